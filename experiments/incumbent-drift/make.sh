#!/usr/bin/env bash
# How far the shipped genome's final scoring moves on another machine's arithmetic: its
# scoring on the first seed of the aesthetic search's final (14,600 steps of a 492,660-parameter
# model at batch 32, recorded on OpenBLAS's Haswell kernel with 1 thread and numpy's AVX-512
# loops) trained again as three other kinds of machine compute it:
#   an SSE-only machine: OpenBLAS's Nehalem kernel, numpy's loops limited to X86_V2;
#   an AVX2-only machine: the Haswell kernel, numpy's loops limited to X86_V3 (no AVX-512);
#   this CPU's own kernel (SkylakeX) with 2 BLAS threads.
# Then the default search's cheapest organism (952 steps) under the same arithmetics, for
# contrast. One run at a time, niced: the machine is shared. What
# reproducibility.INCUMBENT_REUSE_TOLERANCE states comes from incumbent-drift.jsonl.
# Run from the project root; about 40 minutes on a core.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=experiments/incumbent-drift
# kernel:threads:numpy loops turned off
ARITHMETICS=("Nehalem:1:X86_V3 X86_V4 AVX512_ICL AVX512_SPR" "Haswell:1:X86_V4 AVX512_ICL AVX512_SPR" "SkylakeX:2:")
: > $out/incumbent-drift.jsonl
for which in "" --cheapest; do
    for arithmetic in "${ARITHMETICS[@]}"; do
        IFS=: read -r kernel threads disabled <<< "$arithmetic"
        OPENBLAS_CORETYPE=$kernel OPENBLAS_NUM_THREADS=$threads NPY_DISABLE_CPU_FEATURES=$disabled \
            nice python $out/replay.py $which >> $out/incumbent-drift.jsonl
    done
done
