#!/bin/sh
# Render nginx.conf from this container's environment (MAX_UPLOAD_BYTES, EDGE_TRUSTED_PROXIES, EDGE_KEY_FILE,
# EDGE_LIMIT_RATE, EDGE_LIMIT_BURST, EDGE_LIMIT_CONN), then run nginx in the foreground as this user.
# Everything nginx writes lives under /tmp/nginx, which this user creates; its logs go to the container's.
# GATEWAY (default serving:8001) names every serving replica's gateway: nginx resolves it to all of them
# when it loads its configuration, so a watcher reloads it when the replicas' addresses change (a scale,
# a replaced container); a reload keeps the connections it serves.
set -eu
PREFIX=/tmp/nginx
GATEWAY=${GATEWAY:-serving:8001}
python3 -m nginx.render --out "$PREFIX/nginx.conf" --prefix "$PREFIX" --listen 8080 \
  --gateway "$GATEWAY" --web-root /usr/share/nginx/html --worker-user none >/dev/null
ln -sf /dev/stderr "$PREFIX/error.log"
ln -sf /dev/stdout "$PREFIX/access.log"

addresses() { getent ahostsv4 "${GATEWAY%:*}" 2>/dev/null | awk '{print $1}' | sort -u | tr '\n' ' '; }
(
  seen=$(addresses)
  while sleep "${GATEWAY_RESOLVE_SECONDS:-5}"; do
    now=$(addresses)
    if [ -n "$now" ] && [ "$now" != "$seen" ]; then
      echo "web: the serving replicas are now at $now; reloading nginx" >&2
      nginx -c "$PREFIX/nginx.conf" -s reload && seen=$now
    fi
  done
) &
exec nginx -c "$PREFIX/nginx.conf" -g "daemon off;"
