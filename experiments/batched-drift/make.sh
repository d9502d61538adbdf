#!/usr/bin/env bash
# How far mini-batch float64 runs of the budget space move on another machine's arithmetic:
# two organisms of the shipped budgeted search (the cheapest, which tests/test_shipped.py
# replays, and the winner's own scoring), the default search's cheapest (scored by loss and by
# the judge) and the genome check's first evaluation, trained again under forced OpenBLAS
# kernels and thread counts. What reproducibility.CROSS_MACHINE_TOLERANCE_BATCHED states comes
# from batched-drift.jsonl. Run from the project root; about 25 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=experiments/batched-drift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1 python $out/replay.py > "$tmp/haswell-1" &
OPENBLAS_CORETYPE=Nehalem OPENBLAS_NUM_THREADS=1 python $out/replay.py > "$tmp/nehalem-1" &
wait
OPENBLAS_CORETYPE=Nehalem OPENBLAS_NUM_THREADS=2 python $out/replay.py > "$tmp/nehalem-2" &
OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=2 python $out/replay.py > "$tmp/skylakex-2" &
wait
cat "$tmp/haswell-1" "$tmp/nehalem-1" "$tmp/nehalem-2" "$tmp/skylakex-2" > $out/batched-drift.jsonl
