#!/bin/sh
# Render nginx.conf from this container's environment (MAX_UPLOAD_BYTES, EDGE_TRUSTED_PROXIES,
# EDGE_LIMIT_RATE, EDGE_LIMIT_BURST, EDGE_LIMIT_CONN), then run nginx in the foreground as this user.
# Everything nginx writes lives under /tmp/nginx, which this user creates; its logs go to the container's.
set -eu
PREFIX=/tmp/nginx
python3 -m nginx.render --out "$PREFIX/nginx.conf" --prefix "$PREFIX" --listen 8080 \
  --gateway gateway:8001 --web-root /usr/share/nginx/html --worker-user none >/dev/null
ln -sf /dev/stderr "$PREFIX/error.log"
ln -sf /dev/stdout "$PREFIX/access.log"
exec nginx -c "$PREFIX/nginx.conf" -g "daemon off;"
