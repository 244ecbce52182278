#!/usr/bin/env bash
# Build the pinned Kubernetes binaries for the local single-node cluster (issue 22; `make
# kube-up` will use them) from the k8s.io/kubernetes Go module, once, into
# ~/.cache/agent-dapr/kube/v<version>/bin; skipped when they are there.
#
# The module zip leaves out staging/, which its go.mod replaces every k8s.io/<staging module>
# with; in a writable copy the replaces are dropped and the published k8s.io/* v0.<minor>.<patch>
# modules required instead (GOFLAGS=-mod=mod). The binaries are stamped with the real version
# (unstamped they say v0.0.0-master, which charts and version checks refuse).
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-1.34.2}"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/agent-dapr/kube/v${KUBE_VERSION}"
BIN_DIR="$CACHE_DIR/bin"
COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl kube-proxy)

log() { printf '[install-kube] %s\n' "$*" >&2; }
die() { printf '[install-kube] error: %s\n' "$*" >&2; exit 1; }

have_all() {
  for cmd in "${COMMANDS[@]}"; do
    [[ -x "$BIN_DIR/$cmd" ]] || return 1
  done
  [[ $("$BIN_DIR/kubectl" version --client -o json 2>/dev/null) == *"\"gitVersion\": \"v${KUBE_VERSION}\""* ]]
}

if have_all; then
  log "Kubernetes v${KUBE_VERSION} binaries already in $BIN_DIR"
  exit 0
fi
command -v go >/dev/null || die "a Go toolchain is needed to build Kubernetes from its module"

started=$(date +%s)
IFS=. read -r major minor patch <<<"$KUBE_VERSION"
staging_version="v0.${minor}.${patch}"
log "downloading k8s.io/kubernetes@v${KUBE_VERSION} from the Go module proxy"
module_dir=$(go mod download -json "k8s.io/kubernetes@v${KUBE_VERSION}" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
[[ -d $module_dir ]] || die "the module proxy did not serve k8s.io/kubernetes@v${KUBE_VERSION}"

src="$CACHE_DIR/src"
rm -rf "$src"
mkdir -p "$src" "$BIN_DIR"
cp -r "$module_dir/." "$src/"
chmod -R u+w "$src"
cd "$src"
rm -rf vendor go.work go.work.sum
# Every `replace k8s.io/X => ./staging/src/k8s.io/X`: drop it, require the published module.
go mod edit -json |
  python3 -c 'import json,sys; [print(r["Old"]["Path"]) for r in json.load(sys.stdin).get("Replace") or [] if r["New"]["Path"].startswith("./staging/")]' |
  while read -r module; do
    go mod edit -dropreplace="$module" -require="$module@$staging_version"
  done

build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=v${KUBE_VERSION} -X $pkg.gitMajor=${major} -X $pkg.gitMinor=${minor}"
ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=${build_date}"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=v${KUBE_VERSION}"
ldflags+=" -X k8s.io/client-go/pkg/version.gitMajor=${major} -X k8s.io/client-go/pkg/version.gitMinor=${minor}"
export GOFLAGS=-mod=mod CGO_ENABLED=0
for cmd in "${COMMANDS[@]}"; do
  log "building $cmd"
  go build -trimpath -ldflags "$ldflags" -o "$BIN_DIR/$cmd" "./cmd/$cmd"
done
cd /
rm -rf "$src"
have_all || die "the built kubectl does not report v${KUBE_VERSION}"
log "built Kubernetes v${KUBE_VERSION} into $BIN_DIR in $(( $(date +%s) - started )) s"
