#!/usr/bin/env bash
# The default search, timed as a newcomer runs it: `microgpt evolve --fitness F` for both
# fitnesses, from a scratch copy of the project root and from an empty folder (the bundled
# names, no incumbent), one after another on an otherwise idle machine.
#
#   make.sh first   the first search from the project root with nothing recorded: a copy of
#                   input.txt and genome.json only, so the final trains the incumbent (the
#                   shipped genome, 14,600 steps) on its 3 seeds: about 20 minutes. This is the
#                   shipped aesthetic search: its log lands in experiments/ (where a search from
#                   the project root finds the incumbent's scorings and reuses them), its winner
#                   as experiments/genome-aesthetic.json, what it printed as root-first-aesthetic.*.
#   make.sh first-skylakex
#                   the same incumbent's 3 scorings on OpenBLAS's own kernel for this CPU
#                   (SkylakeX, what runs where OPENBLAS_CORETYPE is not set), by the smallest
#                   search with the same seed and generations (so the same final seeds):
#                   2 organisms of 1e9 FLOPs. Its log lands in experiments/, so a clone on this
#                   kind of machine reuses them with the kernel forced or not. About 10 minutes.
#   make.sh timed   the four timed runs (about 20 minutes): from a copy of the project root as
#                   a clone has it (input.txt and genome.json, whose record holds the incumbent's
#                   scorings) and from an empty folder; their logs and what they printed
#                   (root-F.*, empty-folder-F.*) land here.
#   make.sh timed-root  the two from the project root only (about 8 minutes).
# Run from the project root.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=experiments/default-search

run() {  # run WHERE FITNESS NAME [FLAGS...]: one search in a scratch folder, what it printed kept as NAME.*
    local where=$1 fitness=$2 name=$3 scratch
    shift 3
    scratch=$(mktemp -d)
    case $where in
        root-first*) cp input.txt genome.json "$scratch"/ ;;
        root) cp input.txt genome.json "$scratch"/ ;;
    esac
    (cd "$scratch" && microgpt evolve --fitness "$fitness" "$@" >stdout.txt 2>stderr.txt)
    cp "$scratch/stdout.txt" "$out/$name.stdout.txt"
    cp "$scratch/stderr.txt" "$out/$name.stderr.txt"
    # the log this search wrote: its stderr's last line names it
    log=$(sed -n 's/.*; log \(experiments\/evolve-[^ ]*\.jsonl\)$/\1/p' "$scratch/stderr.txt")
    case $where in
        root-first*) cp "$scratch/$log" experiments/ ;;
        *) cp "$scratch/$log" "$out"/ ;;
    esac
    if [ "$where" = root-first ]; then
        # the winner, wherever the final put it (genome.json, or genome.candidate.json if kept)
        written=$(sed -n 's/.*genome written to \([^;]*\);.*/\1/p' "$scratch/stderr.txt")
        cp "$scratch/$written" experiments/genome-aesthetic.json
    fi
    rm -rf "$scratch"
}

case ${1:-} in
    first) run root-first aesthetic root-first-aesthetic ;;
    first-skylakex) OPENBLAS_CORETYPE=SkylakeX run root-first-skylakex aesthetic root-first-skylakex-aesthetic \
        --population 2 --budget 1e9 ;;
    timed-root) for fitness in loss aesthetic; do run root "$fitness" "root-$fitness"; done ;;
    timed)
        for fitness in loss aesthetic; do run root "$fitness" "root-$fitness"; done
        for fitness in loss aesthetic; do run empty-folder "$fitness" "empty-folder-$fitness"; done ;;
    *) echo "usage: $0 first|first-skylakex|timed|timed-root" >&2; exit 2 ;;
esac
