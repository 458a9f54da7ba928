# nginx with the built front end. Node builds the front end; the runtime image renders our nginx template
# at every start (nginx/render.py, standard library only), so MAX_UPLOAD_BYTES, EDGE_TRUSTED_PROXIES and
# the EDGE_LIMIT_* settings are read from the container's environment, and runs nginx as an
# unprivileged user on port 8080. Its nginx is Debian's, the one the native stack and its tests run.
# NODE_IMAGE / PYTHON_IMAGE: the bases (the test here passes local stand-ins).
ARG NODE_IMAGE=docker.io/library/node:20.20-bookworm-slim
ARG PYTHON_IMAGE=docker.io/library/python:3.11.7-slim-bookworm

FROM ${NODE_IMAGE} AS build
WORKDIR /frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

FROM ${PYTHON_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 101 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin web
WORKDIR /app
COPY nginx/ nginx/
COPY docker/web-entrypoint.sh /usr/local/bin/web-entrypoint
COPY --from=build /frontend/dist /usr/share/nginx/html

USER 101
EXPOSE 8080
ENTRYPOINT ["web-entrypoint"]
