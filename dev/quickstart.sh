#!/usr/bin/env bash
# `make quickstart` (after `make setup`): see dev/quickstart.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${VENV:-${VIRTUAL_ENV:-$(pwd)/.venv}}/bin/python" dev/quickstart.py
