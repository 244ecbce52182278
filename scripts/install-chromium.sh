#!/usr/bin/env bash
# Make a Chromium available for the web page's browser tests (tests/clients): Debian's
# `chromium` package, which Playwright drives through `executable_path`; no browser download.
#
# Idempotent: a `chromium` (or `chromium-browser`) on PATH -> nothing; otherwise apt-get, as
# root or through sudo. Anything else fails, saying what to install.
set -euo pipefail

log() { printf '[install-chromium] %s\n' "$*" >&2; }
die() { printf '[install-chromium] error: %s\n' "$*" >&2; exit 1; }

if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
  exit 0
fi
command -v apt-get >/dev/null \
  || die "no chromium found and no apt-get: install Chromium so that \`chromium\` is on PATH"
as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "installing chromium needs root: run \`apt-get install chromium\` as root"; fi
}
log "installing Debian's chromium (apt-get)"
as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null || die "apt-get installed chromium, but it is not on PATH"
log "$(chromium --version)"
