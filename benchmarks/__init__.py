"""Benchmarks: scripts that print figures and write them to a JSON file (see BENCHMARKS.md), grouped by
what one runs:

  suite/         `make bench` (suite/run.py): the stack against its limit, the stock handler and its
                 peers, where a request's time goes, TorchServe's settings swept, the serving forms
  peer_servers/  the peers make bench serves the same model with (LitServe, plain FastAPI)
  soak/          `make soak` (soak/run.py): faults one after another under steady Locust traffic
  gateway_cost/  what the gateway adds to a request: latency.py (hits, misses, a bare forwarder as the
                 floor) and ab.py (this checkout's gateway against other commits', side by side)
  studies/       one-off measurements, each with its own section of BENCHMARKS.md
  common/        what several of them use: images, uploads, archives, memory, percentiles and output

Each script runs as ``python -m benchmarks.<folder>.<script>``; its docstring gives the command.
"""
