#!/usr/bin/env bash
# Builds the binaries the Collector end-to-end tests run, from Go modules only:
#   build/collector/otelcol-cmdscope   the Collector distribution of collector/ (main.go, components.go)
#   build/collector/jaeger             Jaeger v2 (all-in-one, in-memory store), pinned in collector/jaeger/go.mod
# Each is rebuilt only when its module (go.mod, go.sum, *.go) or the Go version changed: a stamp
# beside the binary holds the hash of its inputs. Prints the build time of what it built.
# Usage: scripts/build-collector.sh [--force]
# Env: GO (default: go on PATH, else /usr/local/go/bin/go), CMDSCOPE_BUILD_P (parallel packages, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build/collector
force=0
[ "${1:-}" = "--force" ] && force=1

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
if [ ! -x "$GO" ] && ! command -v "$GO" >/dev/null 2>&1; then
  echo "build-collector: no Go toolchain (set GO=/path/to/go; Go >= 1.26 is needed)" >&2
  exit 2
fi
export GOFLAGS=-mod=readonly  # go.sum is the pin: never rewrite it during a build
mkdir -p "$OUT"
# One build at a time (scripts/test.sh and a test fixture may both ask): the others wait, then
# find the stamps up to date.
exec 9>"$OUT/.lock"
flock 9

# build NAME MODULE_DIR PACKAGE
build() {
  local name=$1 dir=$2 pkg=$3 stamp want
  stamp=$OUT/$name.stamp
  want=$( { "$GO" env GOVERSION GOOS GOARCH; cd "$dir" && cat go.mod go.sum $(ls ./*.go 2>/dev/null); } | sha256sum | cut -c1-64)
  if [ $force = 0 ] && [ -x "$OUT/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  local t0=$SECONDS
  echo "build-collector: building $name ($dir) ..." >&2
  rm -f "$stamp"
  # A second try when the first fails: the Go build cache is shared by every Go build on the
  # machine, and a concurrent `go clean -cache` makes a build fail once with "could not import".
  (cd "$dir" && "$GO" build -trimpath -p "${CMDSCOPE_BUILD_P:-2}" -ldflags "-s -w" -o "$OUT/$name.tmp" "$pkg") ||
    (cd "$dir" && "$GO" build -trimpath -p "${CMDSCOPE_BUILD_P:-2}" -ldflags "-s -w" -o "$OUT/$name.tmp" "$pkg")
  mv -f "$OUT/$name.tmp" "$OUT/$name"
  echo "$want" > "$stamp"
  echo "build-collector: $name built in $((SECONDS - t0))s" >&2
}

build otelcol-cmdscope "$ROOT/collector" .
build jaeger "$ROOT/collector/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger
