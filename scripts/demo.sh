#!/usr/bin/env bash
# The CLI demo (the main job is the studio: scripts/setup.sh run): the default design's
# per-layer table, then MLM pretraining of a `tiny` MMTMMT model on the shipped demo corpus
# (a tokenizer is trained first), about two minutes on two CPU cores, with the loss falling.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
defaults BUILD_DIR="$ROOT/build"
MABERT="$BUILD_DIR/app/mabert"
echo "== the teaching-size design (tiny, MMTMMT) =="
"$MABERT" info --preset tiny | sed -n '1,/total/p'
echo
echo "== pretraining it on the demo corpus (runs/demo-<time>; Ctrl-C stops and checkpoints) =="
cd "$ROOT"
exec "$MABERT" pretrain --demo
