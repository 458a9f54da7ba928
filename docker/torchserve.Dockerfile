# TorchServe 0.12 with our handler, the operator's tools (ops/: the reconciler, the one way to start
# TorchServe, the declared-state tool), the gateway and the training pipeline. One image, several roles by
# command: `python -m ops.torchserve` (the default), `python -m ops.reconciler` and the gateway are the
# serving pod's containers in Kubernetes; `serving-unit` runs all three as compose's scalable serving
# unit; `python -m ops.models` and the training profile run as one-off compose services.
# PYTHON_IMAGE: any Debian bookworm image with Python 3.11 (the test here passes a local stand-in).
# torch and torchvision come from TORCH_INDEX_URL, by default PyTorch's CPU index (PyPI's x86_64 wheels are
# the CUDA build, several GB). With TORCH_INDEX_URL empty they come only from a folder of wheels the
# build is given, read-only: --build-context wheels=DIR --build-arg TORCH_INDEX_URL=
ARG PYTHON_IMAGE=docker.io/library/python:3.11.7-slim-bookworm

# Empty unless the build is given a folder under this name.
FROM scratch AS wheels

FROM ${PYTHON_IMAGE}
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless curl tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 model-server \
    && install -d -o 1000 -g 1000 /home/model-server/model-store /home/model-server/ts \
        /home/model-server/unit /home/model-server/status
COPY requirements/torch.txt /tmp/requirements/
# torch first, in its own layer (several GB: only requirements/torch.txt invalidates it); then everything
# else from PyPI, torch's own dependencies included, with torch already satisfied.
RUN --mount=type=bind,from=wheels,target=/wheels \
    python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-deps --find-links /wheels \
        ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} ${TORCH_INDEX_URL:---no-index} \
        -r /tmp/requirements/torch.txt
COPY requirements/ /tmp/requirements/
RUN --mount=type=bind,from=wheels,target=/wheels \
    /opt/venv/bin/pip install --no-cache-dir --find-links /wheels -c /tmp/requirements/constraints.txt \
        -r /tmp/requirements/serving.txt -r /tmp/requirements/training.txt -r /tmp/requirements/gateway.txt \
    && rm -rf /tmp/requirements

WORKDIR /app
COPY config.properties log4j2.xml ./
COPY inference/ inference/
COPY handler/ handler/
COPY ops/ ops/
COPY commandline/ commandline/
COPY gateway/ gateway/
COPY store/ store/
COPY training/ training/
COPY scripts/train_demo.sh scripts/
COPY docker/serving-unit.sh /usr/local/bin/serving-unit

# The handler imports the shared core (inference/) from /app; TorchServe's own logs go to the console,
# the handler's request lines too (log4j2.xml). TorchServe's key file stays in its own working folder;
# the reconciler writes the gateway's key (the inference key alone) and this replica's report beside it.
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app MODEL_LOG_CONSOLE_LEVEL=info \
    MODEL_STORE=/home/model-server/model-store TS_WORKDIR=/home/model-server/ts \
    TORCHSERVE_KEY_FILE=/home/model-server/ts/key_file.json \
    GATEWAY_KEY_FILE=/home/model-server/unit/gateway-keys.json REPLICA_STATUS_DIR=/home/model-server/status \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
USER 1000
EXPOSE 8001 8080 8081 8082
# tini as PID 1 passes SIGTERM to every process of the group (TorchServe's launcher and its Java server,
# which as PID 1 would ignore it).
ENTRYPOINT ["tini", "-g", "--"]
CMD ["python", "-m", "ops.torchserve"]
