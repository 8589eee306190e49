#!/usr/bin/env sh
# The project's one entry point for humans and CI.
#   ./dev.sh demo   set up (venv, install, demo database) and start the HTTP service on 127.0.0.1:8000
#                   (extra arguments go to `serve`, e.g. --port 8001)
#   ./dev.sh test   set up and run the whole test suite (lint, types, tests)
#   ./dev.sh setup  only set up
set -eu
cd "$(dirname "$0")"

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.13 python3.12 python3.11 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      PYTHON="$candidate"; break
    fi
  done
fi
if [ -z "$PYTHON" ]; then
  echo "error: Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

VENV=.venv
setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "creating virtual environment in $VENV with $PYTHON" >&2
    "$PYTHON" -m venv "$VENV"
  fi
  # Reinstall only when pyproject.toml changed since the last install.
  stamp="$VENV/.installed-$(cksum pyproject.toml | cut -d' ' -f1)"
  if [ ! -f "$stamp" ]; then
    echo "installing fearvana-integration and its development tools" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev]' >&2
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
}

cmd="${1:-demo}"
[ $# -gt 0 ] && shift
case "$cmd" in
  setup)
    setup
    ;;
  demo)
    setup
    "$VENV/bin/fearvana-integration" db seed-demo >&2
    port=8000
    prev=""
    for arg in "$@"; do
      [ "$prev" = "--port" ] && port="$arg"
      case "$arg" in --port=*) port="${arg#--port=}" ;; esac
      prev="$arg"
    done
    demo_id=a551cbd1-df53-5bb5-9870-e856e478508c
    {
      echo
      echo "Starting the service on http://127.0.0.1:$port (API docs: http://127.0.0.1:$port/docs). In another shell:"
      echo
      echo "  curl -H \"Authorization: Bearer \$(.venv/bin/fearvana-integration token demo@fearvana.local)\" \\"
      echo "    \"http://127.0.0.1:$port/api/customers/$demo_id/context?format=prompt\""
      echo
      echo "Stop it with Ctrl-C."
    } >&2
    exec "$VENV/bin/fearvana-integration" serve "$@"
    ;;
  test)
    setup
    echo "== ruff" >&2
    "$VENV/bin/ruff" check src tests benchmarks
    echo "== mypy --strict src" >&2
    "$VENV/bin/mypy" src
    echo "== pytest" >&2
    exec "$VENV/bin/pytest" "$@"
    ;;
  *)
    echo "usage: ./dev.sh [demo|test|setup] [args...]" >&2
    exit 2
    ;;
esac
