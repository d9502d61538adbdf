#!/usr/bin/env bash
# How far the shipped genome's final scoring moves on another machine's arithmetic: its
# scoring on the first seed of the aesthetic search's final (14,600 steps of a 492,660-parameter
# model, recorded on OpenBLAS's Haswell kernel, 1 thread) trained again under the narrowest
# kernel (Nehalem, SSE only) and under SkylakeX with 2 BLAS threads; the default search's
# cheapest organism under the same arithmetics for contrast. One run at a time, niced: the
# machine is shared. What reproducibility.INCUMBENT_REUSE_TOLERANCE states comes from
# incumbent-drift.jsonl. Run from the project root; about 25 minutes on one core.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=experiments/incumbent-drift
: > $out/incumbent-drift.jsonl
for arithmetic in Nehalem:1 SkylakeX:2 Haswell:1; do
    OPENBLAS_CORETYPE=${arithmetic%:*} OPENBLAS_NUM_THREADS=${arithmetic#*:} \
        nice python $out/replay.py --cheapest >> $out/incumbent-drift.jsonl
done
for arithmetic in Nehalem:1 SkylakeX:2; do
    OPENBLAS_CORETYPE=${arithmetic%:*} OPENBLAS_NUM_THREADS=${arithmetic#*:} \
        nice python $out/replay.py >> $out/incumbent-drift.jsonl
done
