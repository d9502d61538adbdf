#!/usr/bin/env bash
# How far the shipped genome's final scoring moves on another machine's arithmetic: its
# scoring on the first seed of the aesthetic search's final (14,600 steps of a 492,660-parameter
# model at batch 32, recorded on OpenBLAS's Haswell kernel with 1 thread and numpy's AVX-512
# loops) trained again as other kinds of machine compute it:
#   an AVX2-only machine: the Haswell kernel, numpy's loops limited to X86_V3 (no AVX-512);
#   an SSE-only machine: OpenBLAS's Nehalem kernel, numpy's loops limited to X86_V2;
#   this CPU's own kernel (SkylakeX) with 2 BLAS threads.
# Then the default search's cheapest organism (952 steps) under the same arithmetics, for
# contrast. One run at a time, niced: the machine is shared. experiments/incumbent-drift/record.py
# then writes the largest drift into genome.json's record; reproducibility.INCUMBENT_REUSE_TOLERANCE
# is held to it. Run from the project root. On an idle core the AVX2-only replay takes about 6
# minutes, the SSE-only one more than 20; on the shared machine that made incumbent-drift.jsonl
# only the AVX2-only replay and the contrast finished (the SSE-only and 2-thread replays of the
# incumbent are still to run; until they have, a record is reused only on kinds of arithmetic
# measured).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=experiments/incumbent-drift
# kernel:threads:numpy loops turned off
ARITHMETICS=("Haswell:1:X86_V4 AVX512_ICL AVX512_SPR" "Nehalem:1:X86_V3 X86_V4 AVX512_ICL AVX512_SPR" "SkylakeX:2:")
: > $out/incumbent-drift.jsonl
for which in "" --cheapest; do
    for arithmetic in "${ARITHMETICS[@]}"; do
        IFS=: read -r kernel threads disabled <<< "$arithmetic"
        OPENBLAS_CORETYPE=$kernel OPENBLAS_NUM_THREADS=$threads NPY_DISABLE_CPU_FEATURES=$disabled \
            nice python $out/replay.py $which >> $out/incumbent-drift.jsonl
    done
done
