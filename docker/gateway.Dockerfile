# The gateway: FastAPI under uvicorn; no torch in this image.
# PYTHON_IMAGE: any Debian bookworm image with Python 3.11 (the test here passes a local stand-in).
ARG PYTHON_IMAGE=docker.io/library/python:3.11.7-slim-bookworm
FROM ${PYTHON_IMAGE}

COPY requirements/gateway.txt requirements/constraints.txt /tmp/requirements/
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -c /tmp/requirements/constraints.txt \
        -r /tmp/requirements/gateway.txt \
    && rm -rf /tmp/requirements \
    && useradd --create-home --uid 1000 gateway
WORKDIR /app
COPY gateway/ gateway/
COPY inference/ inference/
# The system of record: feedback's tables, their migrations and the engine (python -m store upgrade runs
# from this image too, as compose's migrate service and the serving pod's init container).
COPY store/ store/

ENV PATH=/opt/venv/bin:$PATH PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
USER 1000
EXPOSE 8001
CMD ["sh", "-c", "exec python -m gateway --host 0.0.0.0 --port 8001 --workers ${GATEWAY_WORKERS:-1}"]
