#!/usr/bin/env bash
# The budgeted genome (shipped as genome.json when this ran, now experiments/genome-budget.json)
# trained from scratch by `microgpt train` in the project root, on four
# held-out splits the search never scored on (seeds 1-4; the search scored on seed 42's): what
# the docs' held-out loss of the evolved creature (mean ± half the range) and its training
# time come from. Each run's checkpoint is kept here without its weights (seedN.json: config,
# training settings, the held-out curve, provenance with the machine, the wall seconds that
# `microgpt train` printed). Run from the project root on an otherwise idle machine; about two
# minutes a run.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=experiments/genome-check
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for seed in 1 2 3 4; do
    microgpt train --genome experiments/genome-budget.json --val-split 0.1 --eval-every 1000 --samples 0 \
        --seed "$seed" --data input.txt \
        --out "$tmp/s.ckpt.json" >/dev/null 2>"$tmp/stderr"
    python - "$tmp/s.ckpt.json" "$tmp/stderr" "$out/seed$seed.json" <<'PY'
import json, re, sys
checkpoint, stderr, out = sys.argv[1:]
c = json.load(open(checkpoint))
seconds = float(re.search(r"trained \d+ steps in ([0-9.]+)s", open(stderr).read()).group(1))
json.dump({**{k: c[k] for k in ("config", "training", "provenance")}, "seconds": seconds}, open(out, "w"), indent=1)
PY
done
