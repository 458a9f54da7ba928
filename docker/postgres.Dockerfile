# PostgreSQL for the feedback store when replicas share it (compose's `postgres` service), from Debian's
# postgresql package: the server the tests run natively, and no image pulled from Docker Hub. It runs as
# the package's unprivileged postgres user from the first instruction on, so it needs no capability. The
# cluster is a folder inside the volume (a fresh volume may hold lost+found, which initdb refuses).
# DEBIAN_IMAGE: any Debian bookworm image (the test here passes a local stand-in).
ARG DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
FROM ${DEBIAN_IMAGE}

# The postgres user with a fixed ID (999, as in the official image), so that Kubernetes can run it as a
# number; the package's own cluster is not made: the entrypoint makes one in the volume.
# hadolint ignore=DL3008
RUN groupadd --system --gid 999 postgres \
    && useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql --shell /bin/sh postgres \
    && mkdir -p /etc/postgresql-common/createcluster.d \
    && echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/no-main-cluster.conf \
    && apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data
COPY docker/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint

ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data/pgdata
USER 999:999
EXPOSE 5432
ENTRYPOINT ["postgres-entrypoint"]
