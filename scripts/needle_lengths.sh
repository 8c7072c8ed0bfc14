#!/usr/bin/env bash
# Needle at growing length: every finished cell of the needle grid (trained at length 64 with 4
# pairs, resources/grids/recall-needle.json) evaluated on the same task at growing length — the
# 4 pairs stay at the start, filler grows between them and the query at the end — on the task's
# held-out stream (512 examples per length).
#
#   scripts/needle_lengths.sh [RUN_DIR [OUT_CSV]]     defaults: runs/needle,
#                                                    docs/results/recall-figures/needle-lengths.csv
#
# Resumable: each (cell, length) is written once to CELL/lengths/L<length>.json (atomically) and
# read back on a rerun. A model with learned absolute positions cannot be run past the positions
# it has (max_len): that evaluation is recorded with the error `mabert eval` gives, not skipped.
# MABERT (default build/app/mabert) and THREADS (default 1) may be set in the environment.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="${1:-$ROOT/runs/needle}"
OUT="${2:-$ROOT/docs/results/recall-figures/needle-lengths.csv}"
MABERT="${MABERT:-$ROOT/build/app/mabert}"
THREADS="${THREADS:-1}"
LENGTHS="64 128 256 512 1024 2048"
[ -d "$RUN_DIR/cells" ] || { echo "$0: $RUN_DIR/cells does not exist (run the needle grid first)" >&2; exit 1; }
[ -x "$MABERT" ] || { echo "$0: $MABERT is not an executable (build first, or set MABERT)" >&2; exit 1; }

n=0
while IFS= read -r -d '' result; do
  cell="$(dirname "$result")"
  mkdir -p "$cell/lengths"
  for L in $LENGTHS; do
    f="$cell/lengths/L$L.json"
    [ -s "$f" ] && continue
    if out="$("$MABERT" eval --run "$cell" --length "$L" --threads "$THREADS" --json 2> "$f.err")"; then
      printf '%s\n' "$out" > "$f.tmp"
    else
      python3 -c 'import json,sys; print(json.dumps({"error": open(sys.argv[1]).read().strip()}))' "$f.err" > "$f.tmp"
    fi
    mv "$f.tmp" "$f" && rm -f "$f.err"
    n=$((n + 1))
    echo "$(basename "$(dirname "$(dirname "$cell")")") $(basename "$cell") L=$L: $(head -c 300 "$f" | tr -d '\n' | tr -s ' ')"
  done
done < <(find "$RUN_DIR/cells" -name result.json -print0 | sort -z)

mkdir -p "$(dirname "$OUT")"
python3 - "$RUN_DIR/cells" "$OUT.tmp" $LENGTHS <<'EOF'
import csv, glob, json, os, sys
cells, out, lengths = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3:]]
rows = []
for result in sorted(glob.glob(os.path.join(cells, "*", "*", "seed-*", "result.json"))):
    cell = os.path.dirname(result)
    r = json.load(open(result))
    for L in lengths:
        f = os.path.join(cell, "lengths", f"L{L}.json")
        if not os.path.exists(f):
            continue
        e = json.load(open(f))
        acc = e.get("metrics", {}).get("accuracy")
        note = "" if acc is not None else e.get("error", "no accuracy").splitlines()[-1]
        rows.append([r["variant"], r["seed"], f"{r['score']:.4f}", r["steps"], L, "" if acc is None else f"{acc:.4f}", note])
with open(out, "w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(["variant", "seed", "trained_accuracy", "steps", "length", "accuracy", "note"])
    w.writerows(rows)
EOF
mv "$OUT.tmp" "$OUT"
echo "needle lengths: $n new evaluations; table in $OUT"
