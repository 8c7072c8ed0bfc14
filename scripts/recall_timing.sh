#!/usr/bin/env bash
# What a recall-grid cell costs: ms per training step and tokens/s for each schedule of the grid at
# each MQAR length, with the grid's recipe (width 64, 4,096 tokens per step: batch 4096 / length,
# 1 pair per 16 tokens), on ONE intra-op thread, one run at a time — run it on a quiet machine.
#
#   scripts/recall_timing.sh [OUT_CSV]     default docs/results/recall-figures/timing.csv
#
# Each run trains 25 steps and logs every 5; the rate is the median of the logged rates after the
# first (which holds the warm-up). The machine is named in the CSV: rates from different CPUs are
# not comparable. MABERT (default build/app/mabert) may be set in the environment.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
OUT="${1:-$ROOT/docs/results/recall-figures/timing.csv}"
defaults MABERT="$ROOT/build/app/mabert"
SCHEDULES="TTTT MMMM MTMT MMMT PPPP BTBT"
LENGTHS="64 128 256 1024"
need_exec "$MABERT" "build first, or set MABERT"
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//; s/,/ /g')"
echo "schedule,length,batch,ms_per_step,tokens_per_s,cpu" > "$W/timing.csv"
for L in $LENGTHS; do
  for S in $SCHEDULES; do
    batch=$((4096 / L))
    "$MABERT" finetune --task mqar --length "$L" --pairs $((L / 16)) --schedule "$S" --batch "$batch" --steps 25 \
      --log-every 5 --eval-examples 16 --threads 1 --quiet --out "$W/$S-$L" > /dev/null
    python3 - "$W/$S-$L/metrics.jsonl" "$S" "$L" "$batch" "$cpu" >> "$W/timing.csv" <<'EOF'
import json, statistics, sys
path, s, L, batch, cpu = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rates = [e["tokens_per_s"] for e in map(json.loads, open(path)) if e.get("event") == "step" and "tokens_per_s" in e]
rate = statistics.median(rates[1:] if len(rates) > 1 else rates)
print(f"{s},{L},{batch},{1000 * batch * L / rate:.1f},{rate:.0f},{cpu}")
EOF
    tail -1 "$W/timing.csv"
  done
done
mkdir -p "$(dirname "$OUT")"
cp "$W/timing.csv" "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
echo "timing: $OUT"
