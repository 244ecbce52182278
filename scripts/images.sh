#!/usr/bin/env bash
# Build both service images (`make images`) with the container engine this machine has: docker,
# podman or buildah (ENGINE=... to choose). The Dockerfiles are the same everywhere; only their
# bases differ, as build arguments:
# - where a registry answers, the public bases the Dockerfiles name (python:3.11-slim, uv's image);
# - where none does (BASE=local, or the public base cannot be pulled), bases built here: Python
#   from Debian's packages (mmdebstrap, bookworm: python3.11) and uv from the uv binary the
#   Makefile installed; both built once and kept by the engine.
# Podman and Buildah run with scripts/containers.conf (runc, ulimits below the machine's).
#   scripts/images.sh            IMAGE_PREFIX=agent IMAGE_TAG=0.1.0 BASE=auto|public|local
#   scripts/images.sh test-servers   the servers the tests start with testcontainers (Redis),
#                                    from Debian's packages: localhost/agent-test-redis:bookworm
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${IMAGE_PREFIX:-agent}
TAG=${IMAGE_TAG:-0.1.0}
BASE=${BASE:-auto}
UV_VERSION=${UV_VERSION:-0.13.8}
LOCAL_PYTHON=localhost/agent-base-python:3.11-bookworm
LOCAL_UV=localhost/agent-base-uv:${UV_VERSION}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/scripts/containers.conf}

log() { echo "[images] $*" >&2; }

engine() {
  if [[ -n ${ENGINE:-} ]]; then echo "$ENGINE"; return; fi
  for candidate in docker podman buildah; do
    if command -v "$candidate" >/dev/null && "$candidate" info >/dev/null 2>&1; then
      echo "$candidate"; return
    fi
  done
  log "no container engine answers (docker, podman or buildah): install one"; exit 1
}
ENGINE=$(engine)

# The public bases the Dockerfiles name by default.
public_base() { sed -n "s/^ARG $1=//p" services/chat/Dockerfile; }

image_exists() {
  case $ENGINE in
    buildah) buildah inspect --type image "$1" >/dev/null 2>&1 ;;
    *) "$ENGINE" image inspect "$1" >/dev/null 2>&1 ;;
  esac
}

pullable() {
  image_exists "$1" && return 0
  timeout 20 "$ENGINE" pull -q "$1" >/dev/null 2>&1
}

import_rootfs() { # tarball on stdin -> image $1 running $2
  case $ENGINE in
    buildah)
      local tmp; tmp=$(mktemp -d); cat >"$tmp/rootfs.tar"
      local ctr; ctr=$(buildah from scratch)
      buildah add "$ctr" "$tmp/rootfs.tar" / >/dev/null
      buildah config --cmd "$2" "$ctr"
      buildah commit -q "$ctr" "$1" >/dev/null; buildah rm "$ctr" >/dev/null; rm -rf "$tmp" ;;
    *) "$ENGINE" import --change "CMD $2" - "$1" >/dev/null ;;
  esac
}

build() { # context dockerfile tag [build args...]
  local context=$1 file=$2 tag=$3; shift 3
  case $ENGINE in
    buildah) buildah build --layers -q -f "$file" -t "$tag" "$@" "$context" ;;
    *) "$ENGINE" build -q -f "$file" -t "$tag" "$@" "$context" ;;
  esac
}

local_bases() {
  debian_image "$LOCAL_PYTHON" python3.11,python3,ca-certificates '["python3"]'
  if ! image_exists "$LOCAL_UV"; then
    local uv; uv=$(command -v uv || echo "$HOME/.local/bin/uv")
    [[ $("$uv" --version) == "uv $UV_VERSION"* ]] || { log "uv $UV_VERSION is needed (make sync installs it)"; exit 1; }
    log "building $LOCAL_UV from $uv"
    local tmp; tmp=$(mktemp -d); cp "$uv" "$tmp/uv"
    printf 'FROM scratch\nCOPY uv /uv\n' >"$tmp/Dockerfile"
    build "$tmp" "$tmp/Dockerfile" "$LOCAL_UV" >/dev/null
    rm -rf "$tmp"
  fi
}

debian_image() { # name, packages, CMD (JSON): a minbase Debian with those packages, built once
  image_exists "$1" && return 0
  command -v mmdebstrap >/dev/null || { log "mmdebstrap is needed (apt-get install mmdebstrap)"; exit 1; }
  log "building $1 from Debian packages (mmdebstrap, once)"
  mmdebstrap --quiet --variant=minbase --include="$2" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    bookworm - | import_rootfs "$1" "$3"
}

if [[ ${1:-} == test-servers ]]; then
  debian_image localhost/agent-test-redis:bookworm redis-server '["redis-server", "--protected-mode", "no"]'
  exit 0
fi

python_image=$(public_base PYTHON_IMAGE)
uv_image=$(public_base UV_IMAGE)
if [[ $BASE == local || ( $BASE == auto && ! ( $(pullable "$python_image" && echo y) == y ) ) ]]; then
  [[ $BASE == auto ]] && log "$python_image cannot be pulled here: bases built from Debian packages"
  local_bases
  python_image=$LOCAL_PYTHON
  uv_image=$LOCAL_UV
fi
# The host's trust store, for a build behind a TLS-intercepting proxy (BUILD_CA_CERTS to choose
# another bundle, empty for none): a build secret, used by `uv sync`, never kept in the image.
CA_CERTS=${BUILD_CA_CERTS-/etc/ssl/certs/ca-certificates.crt}
secret=()
[[ -n $CA_CERTS && -s $CA_CERTS ]] && secret=(--secret "id=ca-certificates,src=$CA_CERTS")
log "engine $ENGINE, bases $python_image and $uv_image"
for service in chat memory; do
  started=$(date +%s)
  build . "services/$service/Dockerfile" "$PREFIX-$service:$TAG" \
    --build-arg "PYTHON_IMAGE=$python_image" --build-arg "UV_IMAGE=$uv_image" "${secret[@]}" >/dev/null
  log "$PREFIX-$service:$TAG built in $(( $(date +%s) - started )) s"
done
