"""How the serving ONNX Runtime sessions use their threads. Free of torch and ONNX Runtime, so that the
settings readers of the small tools (token keeper, management CLI) stay small."""

# ONNX Runtime's threads spin after a run, waiting for the next, by default. Between a server's requests
# that spinning held a core (the worker spent 18 ms of CPU per 11 ms request at concurrency 1) from the
# front end, the gateway and nginx on the same cores; without it the stack served 185 images/s at
# concurrency 8 against 141, at the same p50 at 1 (docs/performance-log.md, The whole stack: what was
# changed for speed, and what each gave).
SPIN_WAIT = False
