"""``python -m gateway``: the gateway under uvicorn (options in gateway/server.py)."""

from gateway.server import serve

if __name__ == "__main__":
    serve("gateway.main:app", "python -m gateway", "the FromSoft Lens gateway under uvicorn")
