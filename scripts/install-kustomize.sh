#!/usr/bin/env bash
# Make the pinned kustomize available at $KUSTOMIZE_BIN (default
# ~/.cache/agent-dapr/bin/kustomize) for the manifest checks (tests/deploy) and `make k8s-render`.
# Pinned rather than `kubectl kustomize`, whose embedded version follows kubectl's.
#
# Idempotent. In order: already installed -> nothing; a Go toolchain -> `go install` through
# the Go module proxy; otherwise the GitHub release archive, verified against its checksums.
set -euo pipefail

KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-5.7.1}"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/agent-dapr"
KUSTOMIZE_BIN="${KUSTOMIZE_BIN:-$CACHE_DIR/bin/kustomize}"

log() { printf '[install-kustomize] %s\n' "$*" >&2; }
die() { printf '[install-kustomize] error: %s\n' "$*" >&2; exit 1; }

installed_ok() { [[ -x "$KUSTOMIZE_BIN" && "$("$KUSTOMIZE_BIN" version 2>/dev/null)" == "v$KUSTOMIZE_VERSION" ]]; }

from_go() {
  command -v go >/dev/null || return 1
  log "building kustomize v$KUSTOMIZE_VERSION with go install"
  local gobin
  gobin="$(mktemp -d)"
  (cd / && GOBIN="$gobin" go install "sigs.k8s.io/kustomize/kustomize/v5@v$KUSTOMIZE_VERSION") || { rm -rf "$gobin"; return 1; }
  install -D -m 0755 "$gobin/kustomize" "$KUSTOMIZE_BIN"
  rm -rf "$gobin"
}

from_release() {
  command -v curl >/dev/null || return 1
  local arch tmp base
  case "$(uname -m)" in x86_64 | amd64) arch=amd64 ;; aarch64 | arm64) arch=arm64 ;; *) return 1 ;; esac
  tmp="$(mktemp -d)"
  base="https://github.com/kubernetes-sigs/kustomize/releases/download/kustomize%2Fv$KUSTOMIZE_VERSION"
  local name="kustomize_v${KUSTOMIZE_VERSION}_$(uname -s | tr '[:upper:]' '[:lower:]')_$arch.tar.gz"
  curl -fsSL -m 120 -o "$tmp/$name" "$base/$name" || { rm -rf "$tmp"; return 1; }
  curl -fsSL -m 30 -o "$tmp/checksums.txt" "$base/checksums.txt" || { rm -rf "$tmp"; return 1; }
  (cd "$tmp" && grep " $name\$" checksums.txt | sha256sum -c --quiet -) || die "checksum mismatch for $name"
  tar -xzf "$tmp/$name" -C "$tmp" kustomize
  install -D -m 0755 "$tmp/kustomize" "$KUSTOMIZE_BIN"
  rm -rf "$tmp"
}

if installed_ok; then
  log "kustomize v$KUSTOMIZE_VERSION already installed at $KUSTOMIZE_BIN"
  exit 0
fi
if from_go && installed_ok; then
  log "installed kustomize v$KUSTOMIZE_VERSION at $KUSTOMIZE_BIN"
  exit 0
fi
if from_release && installed_ok; then
  log "installed kustomize v$KUSTOMIZE_VERSION (release archive) at $KUSTOMIZE_BIN"
  exit 0
fi
die "cannot install kustomize v$KUSTOMIZE_VERSION: no Go toolchain (>= 1.22) with the module proxy, and GitHub releases are unreachable"
