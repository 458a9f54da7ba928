# TorchServe 0.12 with our handler and the training pipeline (the compose `training` profile runs it).
# PYTHON_IMAGE: any Debian bookworm image with Python 3.11 (the test here passes a local stand-in).
# torch and torchvision come from TORCH_INDEX_URL, by default PyTorch's CPU index (PyPI's x86_64 wheels are
# the CUDA build, several GB). With TORCH_INDEX_URL empty they come only from a folder of wheels the
# build is given, read-only: --build-context wheels=DIR --build-arg TORCH_INDEX_URL=
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

# Empty unless the build is given a folder under this name.
FROM scratch AS wheels

FROM ${PYTHON_IMAGE}
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless curl tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 model-server \
    && install -d -o 1000 -g 1000 /home/model-server/model-store /home/model-server/keys
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
        -r /tmp/requirements/serving.txt -r /tmp/requirements/training.txt \
    && rm -rf /tmp/requirements

WORKDIR /app
COPY config.properties log4j2.xml ./
COPY inference/ inference/
COPY handler/ handler/
COPY training/ training/
COPY scripts/train_demo.sh scripts/
COPY docker/torchserve-entrypoint.sh /usr/local/bin/torchserve-entrypoint

# The handler imports the shared core (inference/) from /app; TorchServe's own logs go to the console and
# /tmp, the handler's request lines to the console too (log4j2.xml). It writes key_file.json (its tokens)
# to its working directory: a volume the gateway reads.
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app LOG_LOCATION=/tmp/torchserve/logs \
    METRICS_LOCATION=/tmp/torchserve/logs MODEL_LOG_CONSOLE_LEVEL=info
USER 1000
WORKDIR /home/model-server/keys
EXPOSE 8080 8081 8082
# tini as PID 1 passes SIGTERM to TorchServe's launcher and its Java server, which as PID 1 would ignore it.
ENTRYPOINT ["tini", "-g", "--", "torchserve-entrypoint"]
