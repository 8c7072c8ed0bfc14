#!/usr/bin/env bash
# Our all-T in bf16 against Hugging Face's BertModel under bf16 autocast, in alternating rounds:
# the two cannot share a process (one is Python), and on a machine whose speed drifts over
# minutes (a shared VM) a ratio of two runs taken minutes apart moves by ±10 %. Each round runs
# ours, then HF (the order swapped every other round), at every length; the ratio of a round is
# taken within it, and the table gives each round's ratio and their median.
#
#   scripts/bf16_hf_rounds.sh [ROUNDS [OUT_DIR]]    defaults: 5, runs/bf16-rounds
#
# MABERT, PYTHON, THREADS (2) and LENGTHS (512,1024,2048) may be set in the environment.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" bf16_hf_rounds
ROUNDS="${1:-5}"
OUT="${2:-$ROOT/runs/bf16-rounds}"
defaults MABERT="$ROOT/build/app/mabert" PYTHON="$ROOT/.venv/bin/python" THREADS=2 LENGTHS=512,1024,2048
need_exec "$MABERT" "build first, or set MABERT"
mkdir -p "$OUT"
ours() { "$MABERT" bench model --preset small --schedules TTTTTTTTTTTT --mode inference --batch 1 --lengths "$LENGTHS" \
           --threads "$THREADS" --bf16 --json > "$OUT/ours-$1.json" 2> "$OUT/ours-$1.log"; }
hf() { "$PYTHON" "$ROOT/scripts/hf_peer_bench.py" --mode inference --batch 1 --lengths ${LENGTHS//,/ } \
         --threads "$THREADS" --json > "$OUT/hf-$1.json" 2> "$OUT/hf-$1.log"; }
for r in $(seq 1 "$ROUNDS"); do
  log "round $r of $ROUNDS"
  if [ $((r % 2)) = 1 ]; then ours "$r" && hf "$r"; else hf "$r" && ours "$r"; fi \
    || { echo "$0: round $r failed (logs in $OUT)" >&2; exit 1; }
done
"$PYTHON" - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
ratios = {}
for r in range(1, rounds + 1):
    ours = {p["length"]: p["median_ms"] for p in json.load(open(f"{out}/ours-{r}.json")) if p["schedule"] == "TTTTTTTTTTTT"}
    hf = {x["length"]: x["bf16_ms"] for x in json.load(open(f"{out}/hf-{r}.json"))["rows"]}
    for L in sorted(ours):
        ratios.setdefault(L, []).append((ours[L], hf[L], ours[L] / hf[L]))
print("| length | " + " | ".join(f"round {r}" for r in range(1, rounds + 1)) + " | median ratio |")
print("|---|" + "---|" * (rounds + 1))
for L, rs in ratios.items():
    cells = [f"{o:.1f} / {h:.1f} = {q:.2f}" for o, h, q in rs]
    print(f"| {L} | " + " | ".join(cells) + f" | **{statistics.median(q for _, _, q in rs):.2f}** |")
PY
