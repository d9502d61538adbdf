#!/usr/bin/env bash
# The good-model recipe of docs/pages/training.md, "From the original run to a good model", over four seeds
# (each its own held-out split), and seed 42 again under two forced BLAS kernels: what the
# docs' mean ± spread and its float32 drift figures come from. Each run's checkpoint is
# kept here without its weights (seedN.json, kernel-K.json: config, training settings, the
# held-out curve, provenance with the machine). Run from the project root; ~2 minutes a run.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=experiments/recipe
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
recipe=(--primordial --n-embd 64 --n-head 4 --n-layer 4 --batch-size 32 --lr 0.002 --clip 1.0 --steps 6500
        --batch-order epoch --dtype float32 --val-split 0.1 --eval-every 500 --samples 0 --data input.txt)
strip() {  # a checkpoint without its weights, Adam's moments and per-step losses
    python -c 'import json, sys
c = json.load(open(sys.argv[1]))
json.dump({k: c[k] for k in ("config", "training", "provenance")}, open(sys.argv[2], "w"), indent=1)' "$1" "$2"
}
for seed in 42 1 2 3; do
    microgpt train "${recipe[@]}" --seed "$seed" --out "$tmp/s.ckpt.json" >/dev/null
    strip "$tmp/s.ckpt.json" "$out/seed$seed.json"
done
for kernel in Haswell Nehalem; do
    OPENBLAS_CORETYPE=$kernel microgpt train "${recipe[@]}" --seed 42 --out "$tmp/k.ckpt.json" >/dev/null
    strip "$tmp/k.ckpt.json" "$out/kernel-$kernel.json"
done
