#!/usr/bin/env bash
# The shipped genome.json trained from scratch by plain `microgpt train` in the project root, on
# four held-out splits the search never scored on (seeds 1-4, --val-split 0.1; the search
# scored on seed 42's): what the held-out loss of the shipped genome (mean ± half the range)
# and its training time come from. Two seeds train at once, one BLAS thread each (one core
# each). After each run, 200 samples from its checkpoint and how many are new names
# (`microgpt sample --novelty`). Each run's checkpoint is kept here without its weights
# (seedN.json: config, training settings, the held-out curve, provenance with the machine,
# the wall seconds that `microgpt train` printed, the novelty line). Run from the project root
# on an otherwise idle machine; about 20 minutes. Arguments (all optional): the folder, the
# held-out share, and the seeds as pairs ("1 2,3 4").
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-experiments/genome-check}
split=${2:-0.1}
pairs=${3:-"1 2,3 4"}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check() {
    local seed=$1
    microgpt train --val-split "$split" --eval-every 1000 --samples 0 --seed "$seed" --data input.txt \
        --out "$tmp/s$seed.ckpt.json" >/dev/null 2>"$tmp/stderr$seed"
    microgpt sample --checkpoint "$tmp/s$seed.ckpt.json" --num 200 --seed "$seed" --novelty --data input.txt \
        >/dev/null 2>"$tmp/novelty$seed"
    python - "$tmp/s$seed.ckpt.json" "$tmp/stderr$seed" "$tmp/novelty$seed" "$out/seed$seed.json" <<'PY'
import json, re, sys
checkpoint, stderr, novelty, out = sys.argv[1:]
c = json.load(open(checkpoint))
seconds = float(re.search(r"trained \d+ steps in ([0-9.]+)s", open(stderr).read()).group(1))
line = next(l.strip() for l in open(novelty) if l.startswith("novelty: "))
json.dump({**{k: c[k] for k in ("config", "training", "provenance")}, "seconds": seconds, "novelty": line},
          open(out, "w"), indent=1)
PY
}
IFS=, read -ra pair_list <<< "$pairs"
for pair in "${pair_list[@]}"; do
    for seed in $pair; do check "$seed" & done
    wait
done
