#!/usr/bin/env bash
# Make the pinned Dapr runtime (daprd, placement, scheduler, sentry) and CLI available under
# $DAPR_RUNTIME_PATH/.dapr/bin (default ~/.dapr/bin), where the `dapr` CLI looks for them.
#
# Idempotent. In order:
#   1. the pinned versions are already installed            -> nothing to do
#   2. the official release archives download from GitHub   -> download, verify sha256, install
#   3. a Go toolchain and the Go module proxy are reachable -> build from the Go modules
#   otherwise fail with a message that says what to install.
#
# The Go build (path 3) compiles daprd with only the component types this project uses
# (see DAPR_COMPONENTS below and docs/dapr-runtime.md); set DAPR_BUILD_FLAVOR=stable or =all
# for upstream's stablecomponents / allcomponents sets instead.
set -euo pipefail

# Pinned: the newest runtime tag whose whole dependency graph the Go module proxy serves here
# (v1.18.3 needs durabletask-go v0.12.4, which it does not) and the newest CLI tag it serves
# (v1.13 .. v1.18 are withheld); see docs/dapr-runtime.md.
DAPR_VERSION="${DAPR_VERSION:-1.18.2}"
DAPR_COMMIT="${DAPR_COMMIT:-d2dd3747145e38e4d85db4714e26d7569c9c37db}" # tag v1.18.2
DAPR_CLI_VERSION="${DAPR_CLI_VERSION:-1.12.0}"
DAPR_BUILD_FLAVOR="${DAPR_BUILD_FLAVOR:-project}"
RUNTIME_ROOT="${DAPR_RUNTIME_PATH:-$HOME}/.dapr"
BIN_DIR="$RUNTIME_ROOT/bin"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/agent-dapr"

# Component registrations kept in the project build: state stores and brokers of the local
# resource sets (sqlite, redis, in-memory, NATS JetStream), the standalone name resolvers,
# local secret stores and the rate-limit middleware.
DAPR_COMPONENTS=(
  state_sqlite state_redis state_in-memory
  pubsub_redis pubsub_in-memory pubsub_jetstream
  nameresolution_mdns nameresolution_sqlite
  secretstores_local_file secretstores_local_env
  middleware_http_ratelimit
)

log() { printf '[install-dapr] %s\n' "$*" >&2; }
die() { printf '[install-dapr] error: %s\n' "$*" >&2; exit 1; }

installed_ok() {
  local v cli
  for b in daprd placement scheduler sentry dapr; do [[ -x "$BIN_DIR/$b" ]] || return 1; done
  v="$("$BIN_DIR/daprd" --version 2>/dev/null | tail -n1 || true)"
  cli="$("$BIN_DIR/dapr" version --output json 2>/dev/null || true)"
  [[ "$v" == "$DAPR_VERSION" ]] || return 1
  [[ "$cli" == *"\"Cli version\": \"$DAPR_CLI_VERSION\""* || "$cli" == *"\"Cli version\":\"$DAPR_CLI_VERSION\""* ]] || return 1
}

os_arch() {
  local os arch
  os="$(uname -s | tr '[:upper:]' '[:lower:]')"
  case "$(uname -m)" in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) arch="$(uname -m)" ;;
  esac
  printf '%s_%s' "$os" "$arch"
}

# Path 2: official release archives, each verified against its published .sha256.
fetch_release() {
  local plat tmp url
  command -v curl >/dev/null || return 1
  plat="$(os_arch)"
  tmp="$(mktemp -d)"
  curl -fsS -m 10 -o /dev/null -r 0-0 \
    "https://github.com/dapr/dapr/releases/download/v$DAPR_VERSION/daprd_$plat.tar.gz" 2>/dev/null || return 1
  log "downloading Dapr $DAPR_VERSION and CLI $DAPR_CLI_VERSION release archives"
  for pair in "dapr/v$DAPR_VERSION/daprd" "dapr/v$DAPR_VERSION/placement" \
    "dapr/v$DAPR_VERSION/scheduler" "dapr/v$DAPR_VERSION/sentry" "cli/v$DAPR_CLI_VERSION/dapr"; do
    local repo="${pair%%/*}" rest="${pair#*/}" tag name
    tag="${rest%%/*}"
    name="${rest#*/}"
    url="https://github.com/dapr/$repo/releases/download/$tag/${name}_$plat.tar.gz"
    curl -fsSL -m 300 -o "$tmp/$name.tar.gz" "$url" || { rm -rf "$tmp"; return 1; }
    curl -fsSL -m 30 -o "$tmp/$name.sha256" "$url.sha256" || { rm -rf "$tmp"; return 1; }
    (cd "$tmp" && printf '%s  %s\n' "$(awk '{print $1}' "$name.sha256")" "$name.tar.gz" | sha256sum -c --quiet -) ||
      die "checksum mismatch for $url"
    tar -xzf "$tmp/$name.tar.gz" -C "$tmp" "$name"
  done
  mkdir -p "$BIN_DIR"
  for b in daprd placement scheduler sentry dapr; do install -m 0755 "$tmp/$b" "$BIN_DIR/$b"; done
  rm -rf "$tmp"
}

# Path 3: build from the Go modules. dapr/dapr's go.mod has replace directives, so
# `go install module@version` refuses it: download the module and build inside a copy.
build_from_go() {
  local dir src ldflags tags started
  started=$(date +%s)
  log "building Dapr $DAPR_VERSION (flavor: $DAPR_BUILD_FLAVOR) from Go modules; the first build takes a while"
  dir="$(module_dir "github.com/dapr/dapr@v$DAPR_VERSION")"
  src="$CACHE_DIR/src/dapr-$DAPR_VERSION-$DAPR_BUILD_FLAVOR"
  if [[ ! -f "$src/.prepared" ]]; then
    rm -rf "$src"
    mkdir -p "$(dirname "$src")"
    cp -r "$dir" "$src"
    chmod -R u+w "$src"
    if [[ "$DAPR_BUILD_FLAVOR" == project ]]; then
      prune_components "$src/cmd/daprd/components"
    fi
    touch "$src/.prepared"
  fi
  case "$DAPR_BUILD_FLAVOR" in
    all) tags=allcomponents ;;
    stable | project) tags=stablecomponents ;;
    *) die "unknown DAPR_BUILD_FLAVOR=$DAPR_BUILD_FLAVOR (project, stable or all)" ;;
  esac
  ldflags="-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$DAPR_VERSION"
  ldflags+=" -X github.com/dapr/dapr/pkg/buildinfo.gitversion=v$DAPR_VERSION"
  ldflags+=" -X github.com/dapr/dapr/pkg/buildinfo.gitcommit=$DAPR_COMMIT"
  ldflags+=" -X github.com/dapr/kit/logger.DaprVersion=$DAPR_VERSION"
  mkdir -p "$CACHE_DIR/out"
  (
    cd "$src"
    export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly"
    go build -trimpath -tags="$tags" -ldflags "$ldflags" -o "$CACHE_DIR/out/daprd" ./cmd/daprd
    go build -trimpath -ldflags "$ldflags" -o "$CACHE_DIR/out/placement" ./cmd/placement
    go build -trimpath -ldflags "$ldflags" -o "$CACHE_DIR/out/scheduler" ./cmd/scheduler
    go build -trimpath -ldflags "$ldflags" -o "$CACHE_DIR/out/sentry" ./cmd/sentry
  )
  # The CLI: built inside its downloaded module too (`go install cli@version` also asks the
  # proxy for the module's version list, which the proxy here refuses). Its binary is `dapr`.
  dir="$(module_dir "github.com/dapr/cli@v$DAPR_CLI_VERSION")"
  src="$CACHE_DIR/src/cli-$DAPR_CLI_VERSION"
  if [[ ! -d "$src" ]]; then
    cp -r "$dir" "$src.tmp" && chmod -R u+w "$src.tmp" && mv "$src.tmp" "$src"
  fi
  (
    cd "$src"
    export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly"
    go build -trimpath -ldflags "-s -w -X main.version=$DAPR_CLI_VERSION -X main.apiVersion=1.0" \
      -o "$CACHE_DIR/out/cli" .
  )
  mkdir -p "$BIN_DIR"
  for b in daprd placement scheduler sentry; do install -m 0755 "$CACHE_DIR/out/$b" "$BIN_DIR/$b"; done
  install -m 0755 "$CACHE_DIR/out/cli" "$BIN_DIR/dapr"
  log "built in $(($(date +%s) - started)) s"
}

# Download a module through the Go module proxy and print its (read-only) directory.
module_dir() {
  local dir
  dir="$(cd / && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$dir" && -d "$dir" ]] || die "could not download $1 through the Go module proxy"
  printf '%s' "$dir"
}

# Keep only the registrations in DAPR_COMPONENTS and make them part of the stable set
# (pubsub.jetstream and nameresolution.sqlite are allcomponents-only upstream).
prune_components() {
  local d="$1" f base keep
  for f in "$d"/*.go; do
    base="$(basename "$f" .go)"
    case "$base" in
      zz_notag | *_test) continue ;;
    esac
    keep=0
    for c in "${DAPR_COMPONENTS[@]}"; do [[ "$base" == "$c" ]] && keep=1; done
    if ((keep)); then
      sed -i '1s#^//go:build .*#//go:build allcomponents || stablecomponents#' "$f"
    elif head -n1 "$f" | grep -q 'allcomponents'; then
      rm -f "$f"
    fi
  done
  for c in "${DAPR_COMPONENTS[@]}"; do
    [[ -f "$d/$c.go" ]] || die "component registration $c.go not found in dapr $DAPR_VERSION"
  done
}

main() {
  if installed_ok; then
    log "Dapr $DAPR_VERSION and CLI $DAPR_CLI_VERSION already installed in $BIN_DIR"
    return 0
  fi
  if fetch_release && installed_ok; then
    log "installed Dapr $DAPR_VERSION release into $BIN_DIR"
    return 0
  fi
  # Not inside an `if`: bash ignores `set -e` in functions called from a condition.
  if command -v go >/dev/null; then
    build_from_go
    installed_ok || die "the built binaries do not report Dapr $DAPR_VERSION / CLI $DAPR_CLI_VERSION"
    log "installed Dapr $DAPR_VERSION (built from Go modules) into $BIN_DIR"
    return 0
  fi
  die "cannot install Dapr $DAPR_VERSION: GitHub releases are unreachable and no Go toolchain \
(>= 1.26, with the Go module proxy) is available. Install Go from https://go.dev/dl/ or run \
'dapr init --slim --runtime-version $DAPR_VERSION' on a machine with GitHub access."
}

main "$@"
