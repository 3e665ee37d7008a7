#!/usr/bin/env bash
# cavewidgets: one entry point for the two README commands.
#   bash scripts/run.sh lab    set up, then JupyterLab on notebooks/01_getting_started.ipynb
#   bash scripts/run.sh test   set up (test extras, Debian chromium, socat for the isolated browser, JS toolchain), then every test
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="${CAVEWIDGETS_VENV:-$ROOT/.venv}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
apt_updated=0
apt_install() {
  [ "$apt_updated" = 1 ] || { as_root apt-get update -qq; apt_updated=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

need_node() {
  if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
    echo "== installing Node.js and npm (Debian packages)"
    apt_install nodejs npm
  fi
}

need_venv() {
  local python="${PYTHON:-python3}"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating $VENV"
    "$python" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv && "$python" -m venv "$VENV"; }
    "$VENV/bin/pip" install -q --upgrade pip
  fi
}

install_package() {  # $1: extras
  echo "== installing cavewidgets[$1] (builds the front-end with npm when missing)"
  "$VENV/bin/pip" install -q -e ".[$1]"
  local built=src/cavewidgets/static
  if [ ! -f $built/table.js ] || [ ! -f $built/morphology.js ] || [ ! -f $built/neuroglancer.js ] || \
     [ -n "$(find js -name '*.ts' -newer $built/neuroglancer.js -not -path '*/node_modules/*' | head -1)" ] || \
     [ -n "$(find js -maxdepth 1 \( -name '*.mjs' -o -name 'package*.json' \) -newer $built/neuroglancer.js | head -1)" ]; then
    (cd js && { [ -d node_modules/neuroglancer ] || npm ci --no-audit --no-fund; } && npm run build)
  fi
}

need_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    echo "== installing Debian's chromium for the browser tests"
    apt_install chromium
  fi
}

need_netns_tools() {  # the isolated browser tests: Chromium in its own network namespace, one port bridged in
  local pkgs=()
  command -v unshare >/dev/null || pkgs+=(util-linux)
  command -v ip >/dev/null || pkgs+=(iproute2)
  command -v socat >/dev/null || pkgs+=(socat)
  if [ "${#pkgs[@]}" -gt 0 ]; then
    echo "== installing ${pkgs[*]} for the isolated browser tests"
    apt_install "${pkgs[@]}"
  fi
}

case "${1:-}" in
  lab)
    need_node; need_venv; install_package lab
    echo "== building the sample datastack if needed (first run only)"
    "$VENV/bin/python" -c "from cavewidgets.sample.generator import ensure_built; ensure_built()"
    extra=(); [ "$(id -u)" = 0 ] && extra+=(--allow-root)
    # scripts/lab/page_config.json: no "get notified about Jupyter news?" pop-up over the notebook
    # (the setting the tests use; Lab has no single flag for it, so its settings dir points there)
    exec "$VENV/bin/jupyter" lab --ip=127.0.0.1 --no-browser "${extra[@]}" \
      --LabApp.default_url=/lab/tree/notebooks/01_getting_started.ipynb \
      --LabApp.app_settings_dir="$ROOT/scripts/lab"
    ;;
  test)
    need_node; need_chromium; need_netns_tools; need_venv; install_package test
    echo "== JS type check (tsc), lint (biome) and unit tests (vitest)"
    # npm ci installs exactly js/package-lock.json (complete for every platform) and never rewrites it
    (cd js && { [ -x node_modules/.bin/vitest ] && [ -x node_modules/.bin/tsc ] && [ -x node_modules/.bin/biome ] || npm ci --no-audit --no-fund; } && \
      npx tsc -p . && npm run lint && npx vitest run)
    echo "== Python tests: unit, service, browser"
    shift
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: bash scripts/run.sh lab|test [pytest args]" >&2
    exit 2
    ;;
esac
