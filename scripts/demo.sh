#!/usr/bin/env bash
# The main job. Until the desktop GUI lands this is the CLI's demo: the default MaBERT design
# at the `tiny` and `base` sizes, its per-layer table and totals.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
MABERT="$BUILD_DIR/app/mabert"
echo "== the teaching-size design (tiny, MMTMMT) =="
"$MABERT" info --preset tiny
echo
echo "== the paper's design (base, MMTMMTMMTMMT) =="
"$MABERT" info --preset base --schedule MMTMMTMMTMMT | sed -n '1,/^$/p;/layer  kind/,/total/p'
