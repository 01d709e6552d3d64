#!/usr/bin/env bash
# Train the chosen recipe on one large GPU for a fixed time, writing checkpoints every few minutes.
#
#   scripts/train_gpu.sh OUT_DIR MINUTES [more train options]
#
# Continues the run in OUT_DIR if it holds one. Every exported model is kept as
# OUT_DIR/checkpoints/step_N.pt, so they can be scored afterwards. A GPU machine may have no npm:
# pack the emoji data here first (`.venv/bin/python -m models.data pack DIR/emoji-64-v16-labelled.npz`)
# and point SAGAN_ATTN_CACHE at DIR there. PYTHON picks the interpreter (default: .venv's, else
# python3); it needs torch, numpy, pillow, tqdm and matplotlib, not the server's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: scripts/train_gpu.sh OUT_DIR MINUTES [more train options]}"
MINUTES="${2:?usage: scripts/train_gpu.sh OUT_DIR MINUTES [more train options]}"
shift 2
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
# The recipe: class-conditional with D's learning rate 2e-4 (docs/recipes.md), G and D twice the
# CPU width, batch 256, bf16 autocast.
RECIPE=(--conditional --d-lr 2e-4 --batch-size 256 --conv-dim 64 --precision bf16)
if [ -f "$OUT/train_state.pt" ]; then
    RECIPE=(--resume)  # the run's own options come from its state
fi
exec "$PYTHON" -m app.cli train "${RECIPE[@]}" --out "$OUT" --steps "${STEPS:-200000}" \
    --time-limit-minutes "$MINUTES" --checkpoint-minutes "${CHECKPOINT_MINUTES:-3}" \
    --checkpoint-every 1000000 --sample-every "${SAMPLE_EVERY:-500}" --keep-checkpoints "$@"
