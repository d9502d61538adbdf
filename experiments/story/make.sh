#!/usr/bin/env bash
# The story table's first two stages on the genome check's own held-out splits (seeds 1-4,
# --val-split 0.1): the primordial settings and the seed-space genome, each trained from
# scratch by `microgpt train`. Each run's checkpoint is kept here without its weights
# (primordial-seedN.json, seed-space-seedN.json). Run from the project root; about a minute.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=experiments/story
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
strip() {  # a checkpoint without its weights, Adam's moments and per-step losses
    python -c 'import json, sys
c = json.load(open(sys.argv[1]))
json.dump({k: c[k] for k in ("config", "training", "provenance")}, open(sys.argv[2], "w"), indent=1)' "$1" "$2"
}
for seed in 1 2 3 4; do
    microgpt train --primordial --val-split 0.1 --eval-every 1000 --samples 0 --seed "$seed" --data input.txt \
        --out "$tmp/p.ckpt.json" >/dev/null 2>&1
    strip "$tmp/p.ckpt.json" "$out/primordial-seed$seed.json"
    microgpt train --genome experiments/genome-seed-space.json --val-split 0.1 --eval-every 1995 --samples 0 \
        --seed "$seed" --data input.txt --out "$tmp/s.ckpt.json" >/dev/null 2>&1
    strip "$tmp/s.ckpt.json" "$out/seed-space-seed$seed.json"
done
