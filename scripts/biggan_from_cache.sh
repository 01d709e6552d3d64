#!/usr/bin/env bash
# A model folder (config.json and pytorch_model.bin, linked) of one BigGAN-deep from the download cache
# of pytorch-pretrained-biggan. Usage: scripts/biggan_from_cache.sh biggan-deep-128 [folder]
# (or -256, -512); the folder defaults to the model's name.
set -euo pipefail
name="${1:?usage: scripts/biggan_from_cache.sh biggan-deep-128|biggan-deep-256|biggan-deep-512 [folder]}"
folder="${2:-$name}"
cache="${PYTORCH_PRETRAINED_BIGGAN_CACHE:-$HOME/.pytorch_pretrained_biggan}"
config=""
weights=""
shopt -s nullglob
for meta in "$cache"/*.json; do
    url="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("url", ""))' "$meta" 2>/dev/null || true)"
    case "$url" in
        */"$name-config.json") config="${meta%.json}" ;;
        */"$name-pytorch_model.bin") weights="${meta%.json}" ;;
    esac
done
if [[ -z "$config" || -z "$weights" || ! -f "$config" || ! -f "$weights" ]]; then
    echo "$cache holds no complete $name. On a machine with internet access run" >&2
    echo "  python -c 'from pytorch_pretrained_biggan import BigGAN; BigGAN.from_pretrained(\"$name\")'" >&2
    echo "then copy that machine's cache folder to $cache (or point PYTORCH_PRETRAINED_BIGGAN_CACHE at it)." >&2
    exit 1
fi
mkdir -p "$folder"
ln -sf "$config" "$folder/config.json"
ln -sf "$weights" "$folder/pytorch_model.bin"
echo "$folder: config.json and pytorch_model.bin linked from $cache; serve it with: sagan-attn serve --checkpoint $folder"
