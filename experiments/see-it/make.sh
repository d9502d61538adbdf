#!/usr/bin/env bash
# The pictures of the docs' "See it" page (docs/pages/see-it.md), from the model of the shipped genome.json.
# Run from anywhere: bash experiments/see-it/make.sh
# Needs microgpt with the plot extra (pip install -e '.[plot]'), Graphviz's dot and Chromium
# (apt-get install graphviz chromium).
set -euo pipefail
cd "$(dirname "$0")/../.."          # the project root: `microgpt train` loads ./genome.json
out=experiments/see-it
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ckpt="$work/genome.ckpt.json"

microgpt train --samples 0 --out "$ckpt" > /dev/null
microgpt graph --checkpoint "$ckpt" --text emma --level ops --out "$out/graph-ops.svg"
microgpt attention --checkpoint "$ckpt" --text emma --out "$out/attention.png"
microgpt embeddings --checkpoint "$ckpt" --out "$out/embeddings.png"
# the report of the README's primordial model: the genome's 492,660 weights are past what the
# page embeds for its playground
microgpt train --primordial --samples 0 --out "$work/primordial.ckpt.json" > /dev/null 2>&1
microgpt report --checkpoint "$work/primordial.ckpt.json" --text emma --out "$work/report.html"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/chromium" --hide-scrollbars --window-size=1200,2400 \
    --screenshot="$out/report.png" "file://$work/report.html" 2> /dev/null
echo "wrote $out/graph-ops.svg, attention.png, embeddings.png, report.png" >&2
