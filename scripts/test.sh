#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine, then runs them.
# Usage: scripts/test.sh [--matrix] [pytest args...]
#
# Without --matrix: the full suite on the default Python (.venv).
# With --matrix (what .ci/run uses): that, then the support matrix of docs/architecture.md:
# Python 3.12 and 3.13 (.venv-3.12, .venv-3.13) and Python 3.11 with every runtime dependency
# at the floor pyproject.toml declares (.venv-floor, constraints from scripts/floors.py).
# The extra runs skip tests marked slow (MATRIX_PYTEST_ARGS) so .ci/run stays under 45 minutes
# on a 2-core machine. Interpreters come from pyenv (~/.pyenv/versions) or PATH; none is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."

matrix=0
if [ "${1:-}" = "--matrix" ]; then
  matrix=1
  shift
fi

need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
{ command -v prometheus-alertmanager || command -v alertmanager; } >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# Debian starts the services on install; the tests start their own on free ports.
for svc in prometheus prometheus-alertmanager prometheus-node-exporter; do
  (command -v systemctl >/dev/null && systemctl stop "$svc" 2>/dev/null) || true
done

# venv DIR PYTHON [pip args...]: create DIR with PYTHON unless it exists, install the package
# editable with the test extras (pip's warnings about this machine's unused local index paths
# are filtered; errors still show).
venv() {
  local dir=$1 python=$2
  shift 2
  [ -x "$dir/bin/python" ] || "$python" -m venv --clear "$dir"  # (re)made when its interpreter is gone
  "$dir/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  "$dir/bin/python" -m pip install -q "$@" -e '.[test]' 2> >(grep -v "^WARNING: Location" >&2)
}

# find_python X.Y: an interpreter of that version (pyenv's, else one on PATH).
find_python() {
  local found
  found=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/python"$1" 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$found" ]; then found=$(command -v "python$1" || true); fi
  if [ -n "$found" ]; then found=$(readlink -f "$found"); fi  # a venv needs the real interpreter, not a link to it
  [ -n "$found" ] || { echo "scripts/test.sh: no Python $1 found (pyenv or PATH)" >&2; return 1; }
  echo "$found"
}

venv .venv python3

if [ -f package.json ]; then
  npm install --no-audit --no-fund --silent >/dev/null 2>&1 || npm install --no-audit --no-fund
fi

# The Collector distribution and Jaeger the end-to-end tests run (Go modules; rebuilt only when changed).
bash scripts/build-collector.sh

if [ "$matrix" = 0 ]; then
  exec .venv/bin/python -m pytest "$@"
fi

# --- the support matrix ----------------------------------------------------------------------
extra=(-m "not slow")
if [ -n "${MATRIX_PYTEST_ARGS+set}" ]; then read -r -a extra <<<"$MATRIX_PYTEST_ARGS"; fi
status=0
run() {  # run LABEL VENV: one pytest run; keeps going after a failure, remembers it
  local label=$1 dir=$2
  shift 2
  echo "=== $label: $("$dir/bin/python" -c 'import sys; print(sys.version.split()[0])')"
  "$dir/bin/python" -m pytest "$@" || status=1
}

run "default Python, full suite" .venv "$@"

for version in 3.12 3.13; do
  if py=$(find_python "$version"); then
    venv ".venv-$version" "$py"
    run "Python $version" ".venv-$version" "$@" "${extra[@]}"
  else
    status=1  # a supported version that cannot be tested fails the matrix
  fi
done

floors=$(mktemp)
python3 scripts/floors.py pyproject.toml >"$floors"
if py=$(find_python 3.11); then
  venv .venv-floor "$py" -c "$floors"
  run "Python 3.11, dependency floors: $(tr '\n' ' ' <"$floors")" .venv-floor "$@" "${extra[@]}"
else
  status=1
fi
rm -f "$floors"

exit $status
