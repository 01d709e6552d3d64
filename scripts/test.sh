#!/usr/bin/env bash
# Set up from a fresh clone (venv, packages, Debian's chromium) and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
