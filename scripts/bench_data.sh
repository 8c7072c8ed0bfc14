#!/usr/bin/env bash
# The data path against the training step (issue 31), measured in one sitting on this machine:
#  1. `mabert data prepare` on a corpus of SIZE_MB (the shared corpus copied up to it), from
#     scratch, with 1 and with THREADS threads: MB of text per second.
#  2. Pretraining from those shards at each preset in PRESETS, natural sentences and packed
#     blocks: the batch maker's batches/s (alone on the loader's thread, timed around each batch)
#     against the batches/s the training step consumes (the step's own time, its data wait
#     excluded), both from the same run (`pretrain --json`, "timing"), and their ratio.
# Writes a Markdown table (OUT, default docs/results/data-throughput.md) atomically. Run it on a
# quiet machine: every figure is a rate, and a compile beside it halves them.
#
#   scripts/bench_data.sh
#   SIZE_MB=20 PRESETS=tiny STEPS=10 scripts/bench_data.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" bench-data
defaults MABERT="$ROOT/build/app/mabert" WORK=/tmp/mabert-rss OUT="$ROOT/docs/results/data-throughput.md" SIZE_MB=100 \
  PRESETS="tiny small" STEPS=20 SHARED="$ROOT/../shared/data/corpus" BATCH=32 MAX_LEN=128 THREADS=2
need_exec "$MABERT" "build it: cmake --build build --target mabert"
mkdir -p "$WORK"
trap 'rm -f "$OUT.tmp"' EXIT
export MABERT_REGISTRY="$WORK/runs.db"

[ -f "$WORK/tok.model" ] || "$MABERT" tokenizer train --input "$SHARED" --out "$WORK/tok" --vocab 4000 >/dev/null 2>&1
corpus="$WORK/corpus-$SIZE_MB"
if [ ! -f "$corpus.done" ]; then
  log "making a $SIZE_MB MB corpus"
  make_corpus "$SHARED" "$SIZE_MB" "$corpus" && touch "$corpus.done"
fi

prep_rows=()
for t in $(printf "%s\n" 1 "$THREADS" | sort -un); do
  rm -rf "$WORK/bench-shards"
  log "data prepare, $t thread(s)"
  "$MABERT" data prepare --corpus "$corpus" --tokenizer "$WORK/tok.model" --out "$WORK/bench-shards" --threads "$t" \
    --json --quiet >"$WORK/bench-prepare-$t.json"
  prep_rows+=("$(python3 - "$WORK/bench-prepare-$t.json" "$t" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"| {sys.argv[2]} | {r['bytes'] / 1e6:.1f} | {r['tokens']:,} | {r['seconds']:.1f} | {r['mb_per_s']:.2f} |")
PY
)")
done

step_rows=()
for preset in $PRESETS; do
  for packed in "" "--packed"; do
    log "pretrain --shards, $preset${packed:+, packed}, $STEPS steps"
    rm -rf "$WORK/bench-run"
    "$MABERT" pretrain --shards "$WORK/bench-shards" $packed --preset "$preset" --steps "$STEPS" --batch "$BATCH" \
      --max-len "$MAX_LEN" --threads "$THREADS" --out "$WORK/bench-run" --quiet --json >"$WORK/bench-run.json"
    step_rows+=("$(python3 - "$WORK/bench-run.json" "$preset" "${packed:+packed blocks}" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = r["timing"]
made = t["batches_made"] / t["data_make_s"]
used = r["steps"] / (t["step_s"] - t["data_wait_s"])
print(f"| {sys.argv[2]} | {sys.argv[3] or 'sentences'} | {made:,.0f} | {1000 / made:.2f} | {used:.2f} | {1000 / used:.0f} | "
      f"{made / used:,.0f}x | {t['data_wait_s']:.3f} |")
PY
)")
  done
done

{
  echo "# The data path against the training step"
  echo
  echo "\`scripts/bench_data.sh\` at commit $(git -C "$ROOT" rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
  echo "($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)); the shared corpus copied to $SIZE_MB MB; tokenizer of"
  echo "4000 pieces. Every rate below was measured in this one sitting."
  echo
  echo "**Preparing token shards** (\`mabert data prepare --threads T\`, from scratch: read, tokenize, write):"
  echo
  echo "| threads | MB of text | tokens | seconds | MB/s |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${prep_rows[@]}"
  echo
  echo "**Loader against step** (\`mabert pretrain --shards … --preset P --steps $STEPS --batch $BATCH --max-len $MAX_LEN"
  echo "--threads $THREADS --json\`, prefetch 2): the batch maker's rate is batches made over the seconds spent making"
  echo "them on the loader's thread (while the step ran on the other threads: the rate under load); the step's rate is"
  echo "steps over the steps' seconds with the wait for data taken out. One batch per step (no accumulation)."
  echo
  echo "| preset | examples | loader batches/s | ms a batch | step batches/s | ms a step | loader ÷ step | s the steps waited for data |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${step_rows[@]}"
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "wrote $OUT"
cat "$OUT"
