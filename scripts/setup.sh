#!/usr/bin/env bash
# Create .venv and install the project. Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
TORCH_VERSION="2.13.0"
TORCH_CPU_INDEX="${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"

apt_install() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    # Wait up to 5 minutes for another apt or dpkg process to release its lock instead of failing.
    local wait_for_lock=(-o DPkg::Lock::Timeout=300)
    $sudo apt-get "${wait_for_lock[@]}" update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get "${wait_for_lock[@]}" install -y -qq "$@" >/dev/null
}

MODE="serve"
if [ "${1:-}" = "--test" ]; then MODE="test"; fi
# Skip the pip work when this venv was already set up from the same pyproject.toml and script,
# so that serving again works offline.
SETUP_HASH="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
setup_done() { [ -f ".venv/.setup-$1" ] && [ "$(cat ".venv/.setup-$1")" = "$SETUP_HASH" ]; }

if [ ! -x /usr/bin/chromium ] && [ "$MODE" = "test" ]; then
    apt_install chromium
fi
# npm fetches the emoji data for training and axe-core for the page's accessibility test.
if ! command -v npm >/dev/null && [ "$MODE" = "test" ]; then
    apt_install npm
fi
if setup_done "$MODE" || { [ "$MODE" = "serve" ] && setup_done test; }; then
    exit 0
fi

if [ ! -x .venv/bin/python ]; then
    if ! command -v "$PYTHON" >/dev/null || ! "$PYTHON" -c "import ensurepip, venv" 2>/dev/null; then
        apt_install python3 python3-venv
    fi
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip

# Torch first, as a CPU build: on Linux, PyPI's torch wheel pulls several GB of CUDA libraries.
# A CPU wheel that pip's find-links already holds is taken as is; otherwise PyTorch's CPU index is
# added to pip's own (default) index for torch alone.
if .venv/bin/python -m pip install --quiet --no-index --no-deps "torch==${TORCH_VERSION}" 2>/dev/null; then
    .venv/bin/python -m pip install --quiet "torch==${TORCH_VERSION}"
else
    .venv/bin/python -m pip install --quiet --extra-index-url "$TORCH_CPU_INDEX" "torch==${TORCH_VERSION}+cpu"
fi

if [ "$MODE" = "test" ]; then
    .venv/bin/python -m pip install --quiet -e ".[test]"
else
    .venv/bin/python -m pip install --quiet -e .
fi
echo "$SETUP_HASH" > ".venv/.setup-$MODE"
