#!/usr/bin/env bash
# The search at the compute a user spends (see search.py); about 20 minutes of two idle cores.
# Run from the project root.
set -euo pipefail
cd "$(dirname "$0")/../.."
python experiments/quality-search/search.py
