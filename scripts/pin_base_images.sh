#!/usr/bin/env bash
# Pin every public base image by digest, in place: the Dockerfiles' base ARGs, compose's REDIS_IMAGE and
# PROMETHEUS_IMAGE defaults, and kustomization.yaml's Redis. Run it where the registries answer, review
# the diff, commit it; run it again to move to newer images of the same tags (a tag moves, a digest
# does not). Needs skopeo (`apt-get install skopeo`): the digest pinned is the one of the manifest list,
# so every platform keeps pulling its own image.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v skopeo >/dev/null || { echo "pin_base_images: install skopeo first" >&2; exit 1; }

digest() { # image[:tag][@sha256:...] -> sha256:... of the tag's manifest (list) now
  skopeo inspect --raw "docker://${1%@*}" | sha256sum | awk '{print "sha256:" $1}'
}

pin_file() { # file, extended regex whose last group is an image reference (tag, optional @digest)
  local file=$1 pattern=$2 groups ref
  groups=$(grep -o '(' <<<"$pattern" | wc -l)
  for ref in $(grep -oE "$pattern" "$file" | sed -E "s#$pattern#\\$groups#" | sort -u); do
    local bare=${ref%@*} pinned
    pinned="$bare@$(digest "$bare")"
    [ "$ref" = "$pinned" ] && continue
    sed -i "s#$ref#$pinned#g" "$file"
    echo "pin_base_images: $file: $pinned"
  done
}

for dockerfile in docker/*.Dockerfile; do
  pin_file "$dockerfile" '^ARG [A-Z_]+_IMAGE=(docker\.io/[^ ]+)'
done
pin_file docker-compose.yml '\$\{(REDIS|PROMETHEUS)_IMAGE:-(docker\.io/[^}]+)\}'
pin_file deploy/k8s/base/redis.yaml 'image: (docker\.io/[^ ]+)'
