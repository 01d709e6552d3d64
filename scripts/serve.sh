#!/usr/bin/env bash
# Set up from a fresh clone and serve the shipped emoji model on http://127.0.0.1:8000
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/sagan-attn serve "$@"
