# The gateway: FastAPI under uvicorn; no torch in this image.
FROM python:3.11.7-slim-bookworm

RUN useradd --create-home --uid 1000 gateway
WORKDIR /app
COPY requirements/gateway.txt requirements/constraints.txt requirements/
RUN pip install --no-cache-dir -c requirements/constraints.txt -r requirements/gateway.txt
COPY gateway/ gateway/
COPY handler/__init__.py handler/formats.py handler/

USER 1000
ENV PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
EXPOSE 8001
CMD ["sh", "-c", "exec python -m gateway --host 0.0.0.0 --port 8001 --workers ${GATEWAY_WORKERS:-2}"]
