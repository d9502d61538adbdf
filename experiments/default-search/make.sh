#!/usr/bin/env bash
# The default search, timed as a newcomer runs it: `microgpt evolve --fitness F` for both
# fitnesses, in a scratch copy of the project root (input.txt, genome.json: the incumbent) and
# in an empty folder (the bundled names, no incumbent), one after another on an otherwise idle
# machine; about 25 minutes in all. Each run's log lands here (the project root's aesthetic log
# in experiments/, its winner as experiments/genome-aesthetic.json: the shipped aesthetic
# search), with what it printed (root-F.stdout.txt / .stderr.txt, empty-folder-F.*).
# Run from the project root.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=experiments/default-search
for where in root empty-folder; do
    for fitness in loss aesthetic; do
        scratch=$(mktemp -d)
        if [ "$where" = root ]; then cp input.txt genome.json "$scratch"/; fi
        (cd "$scratch" && microgpt evolve --fitness "$fitness" >stdout.txt 2>stderr.txt)
        cp "$scratch/stdout.txt" "$out/$where-$fitness.stdout.txt"
        cp "$scratch/stderr.txt" "$out/$where-$fitness.stderr.txt"
        if [ "$where-$fitness" = root-aesthetic ]; then
            cp "$scratch"/experiments/evolve-*.jsonl experiments/
            # the winner, wherever the final put it (genome.json, or genome.candidate.json if kept)
            written=$(sed -n 's/.*genome written to \([^;]*\);.*/\1/p' "$scratch/stderr.txt")
            cp "$scratch/$written" experiments/genome-aesthetic.json
        else
            cp "$scratch"/experiments/evolve-*.jsonl "$out"/
        fi
        rm -rf "$scratch"
    done
done
