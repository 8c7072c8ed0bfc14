#!/usr/bin/env bash
# What keyed dropout masks cost: ms per pretraining step with --dropout-masks keyed (each example's
# masks from its own generator: world-size invariant) against --dropout-masks stream (LibTorch's
# dropout on one stream per rank, as PyTorch DDP), same run otherwise, alternated ROUNDS times in
# this one process tree so both see the same machine. Prints each round and the medians' ratio.
#
#   scripts/dropout_cost.sh [PRESET] [BATCH] [MAX_LEN]      default: small 32 128
#
# A step's time is elapsed_s between the 2nd and the last logged step over the steps between
# (the first step holds the warm-up). MABERT (default build/app/mabert), ROUNDS (3), STEPS (12),
# THREADS (2) may be set in the environment.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PRESET="${1:-small}" BATCH="${2:-32}" MAX_LEN="${3:-128}"
defaults MABERT="$ROOT/build/app/mabert" ROUNDS=3 STEPS=12 THREADS=2
need_exec "$MABERT" "build first, or set MABERT"
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
"$MABERT" tokenizer train --input "$ROOT/resources/demo/corpus.txt" --out "$W/tok" --vocab 2000 >/dev/null 2>&1
echo "preset $PRESET, batch $BATCH, max length $MAX_LEN, $STEPS steps, $THREADS threads; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
for r in $(seq "$ROUNDS"); do
  for mode in keyed stream; do
    "$MABERT" pretrain --corpus "$ROOT/resources/demo/corpus.txt" --tokenizer "$W/tok.model" --preset "$PRESET" \
      --batch "$BATCH" --max-len "$MAX_LEN" --steps "$STEPS" --log-every 1 --dropout-masks "$mode" --threads "$THREADS" \
      --quiet --registry "$W/runs.db" --out "$W/$mode-$r" >/dev/null
    python3 - "$W/$mode-$r/metrics.jsonl" "$mode" "$r" >>"$W/times.txt" <<'EOF'
import json, sys
s = [j for j in map(json.loads, open(sys.argv[1])) if j.get("event") == "step"]
print(sys.argv[2], sys.argv[3], 1000 * (s[-1]["elapsed_s"] - s[1]["elapsed_s"]) / (len(s) - 2))
EOF
    tail -1 "$W/times.txt" | awk '{printf "round %s  %-6s %7.1f ms/step\n", $2, $1, $3}'
  done
done
python3 - "$W/times.txt" <<'EOF'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    mode, _, ms = line.split(); t.setdefault(mode, []).append(float(ms))
k, s = statistics.median(t["keyed"]), statistics.median(t["stream"])
print(f"median: keyed {k:.1f} ms/step, stream {s:.1f} ms/step; keyed / stream = {k / s:.3f}")
EOF
