# TorchServe 0.12 with our handler's dependencies. CPU-only torch from PyTorch's CPU index (the default
# index would pull the CUDA build, several GB).
FROM python:3.11.7-slim-bookworm

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 model-server

WORKDIR /app
COPY requirements/ requirements/
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu \
    -c requirements/constraints.txt -r requirements/serving.txt -r requirements/training.txt
COPY config.properties ./
COPY handler/ handler/
COPY training/ training/
COPY docker/torchserve-entrypoint.sh /usr/local/bin/torchserve-entrypoint

USER 1000
# TorchServe writes key_file.json (its tokens) to its working directory: a volume the gateway reads.
WORKDIR /home/model-server/keys
EXPOSE 8080 8081 8082
ENTRYPOINT ["torchserve-entrypoint"]
