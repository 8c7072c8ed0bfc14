#!/usr/bin/env bash
# Gradient all-reduce overlapped with backward against after it (issue 31), on RANKS Gloo ranks ×
# 1 thread on 127.0.0.1: the same pretraining (demo corpus, batch BATCH × length MAX_LEN, STEPS
# steps) with --overlap-comm on and off, alternated ROUNDS times so drift hits both alike. From
# each run's `--json` timing (rank 0): the step's seconds, and the seconds it waited for gradient
# sums after backward. Off, that wait is the whole all-reduce; on, the part not hidden behind
# backward. Hidden share = 1 − wait(on) / wait(off). Writes a Markdown table (OUT, default
# docs/results/overlap.md) atomically. A quiet machine, please: ranks share its cores.
#
#   scripts/bench_overlap.sh
#   PRESETS=tiny STEPS=10 ROUNDS=1 scripts/bench_overlap.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" bench-overlap
defaults MABERT="$ROOT/build/app/mabert" OUT="$ROOT/docs/results/overlap.md" PRESETS="tiny small" STEPS=20 ROUNDS=2 \
  RANKS=2 BATCH=16 MAX_LEN=128 BUCKET_MB=4
need_exec "$MABERT" "build it: cmake --build build --target mabert"
TR="$ROOT/.venv/bin/torchrun"
need_exec "$TR" "run scripts/setup.sh first"
W="$(mktemp -d)"; trap 'rm -rf "$W"; rm -f "$OUT.tmp"' EXIT
export MABERT_REGISTRY="$W/runs.db"
"$MABERT" tokenizer train --input "$ROOT/resources/demo/corpus.txt" --out "$W/tok" --vocab 2000 >/dev/null 2>&1

run() {  # PRESET on|off ROUND -> rank 0's JSON in $W/PRESET-on|off-ROUND.json
  rm -rf "$W/run"
  OMP_NUM_THREADS=1 "$TR" --no-python --nproc-per-node "$RANKS" --master-addr 127.0.0.1 \
    --master-port $((29500 + RANDOM % 1000)) "$MABERT" pretrain --corpus "$ROOT/resources/demo/corpus.txt" \
    --tokenizer "$W/tok.model" --preset "$1" --steps "$STEPS" --batch "$BATCH" --max-len "$MAX_LEN" --threads 1 \
    --overlap-comm "$2" --comm-bucket-mb "$BUCKET_MB" --out "$W/run" --quiet --json >"$W/$1-$2-$3.json" 2>"$W/$1-$2-$3.err"
}

rows=()
for preset in $PRESETS; do
  for r in $(seq 1 "$ROUNDS"); do
    for mode in on off; do
      log "$preset, overlap $mode, round $r"
      run "$preset" "$mode" "$r"
    done
  done
  rows+=("$(python3 - "$W" "$preset" "$ROUNDS" <<'PY'
import json, sys
w, preset, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
def per_step(mode, key):
    v = []
    for r in range(1, rounds + 1):
        j = json.load(open(f"{w}/{preset}-{mode}-{r}.json"))
        v.append(j["timing"][key] / j["steps"])
    return sum(v) / len(v)
on_step, off_step = per_step("on", "step_s"), per_step("off", "step_s")
on_wait, off_wait = per_step("on", "comm_wait_s"), per_step("off", "comm_wait_s")
hidden = 1 - on_wait / off_wait if off_wait > 0 else float("nan")
print(f"| {preset} | {off_step * 1000:.0f} | {on_step * 1000:.0f} | {off_step / on_step:.3f} | "
      f"{off_wait * 1000:.1f} | {on_wait * 1000:.1f} | {hidden * 100:.0f} % |")
PY
)")
done

{
  echo "# Gradient all-reduce overlapped with backward"
  echo
  echo "\`scripts/bench_overlap.sh\` at commit $(git -C "$ROOT" rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
  echo "($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)): $RANKS ranks × 1 thread under torchrun, Gloo on 127.0.0.1;"
  echo "\`mabert pretrain\` on the demo corpus, global batch $BATCH × $MAX_LEN tokens, $STEPS steps, buckets of $BUCKET_MB MB,"
  echo "\`--overlap-comm on\` and \`off\` alternated, $ROUNDS round(s) each; means per step over the runs (rank 0's timing)."
  echo "Off, the wait after backward is the whole all-reduce; on, what of it was not hidden behind backward."
  echo
  echo "| preset | step, off (ms) | step, on (ms) | speed-up | all-reduce wait, off (ms) | wait, on (ms) | hidden |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "wrote $OUT"
cat "$OUT"
