"""A folder of screenshots through the public API: ``python -m client classify PATH...`` (client.cli).

It talks to the stack as any user does, over HTTP through nginx, and imports nothing of the serving
side but the shared core's format rules (inference.formats), so that it refuses locally exactly the
files the gateway would."""
