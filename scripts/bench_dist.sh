#!/usr/bin/env bash
# What the data-parallel engine costs on one machine: the same pretraining (tiny, batch 32,
# length 64, the demo corpus) as 1 process × T threads and as T processes × 1 thread under
# torchrun (Gloo on 127.0.0.1), both on the same cores; tokens/s from the runs' metrics (steps
# after the first logged interval), and the ratio. Then the gradient all-reduce per preset.
#   scripts/bench_dist.sh [build/app/mabert] [steps] [threads]
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
M="${1:-$ROOT/build/app/mabert}"; STEPS="${2:-60}"; T="${3:-2}"
TR="$ROOT/.venv/bin/torchrun"
W="$(mktemp -d)"; trap 'rm -rf "$W"' EXIT
export MABERT_REGISTRY="$W/runs.db"
"$M" tokenizer train --input "$ROOT/resources/demo/corpus.txt" --out "$W/tok" --vocab 2000 >/dev/null 2>&1
args=(pretrain --corpus "$ROOT/resources/demo/corpus.txt" --tokenizer "$W/tok.model" --preset tiny --steps "$STEPS"
      --batch 32 --max-len 64 --log-every 10 --quiet)
tps() {  # mean tokens/s over the logged intervals after the first
  python3 - "$1" <<'PY'
import json, sys
v = [j["tokens_per_s"] for j in map(json.loads, open(sys.argv[1] + "/metrics.jsonl")) if j.get("event") == "step"][1:]
print(f"{sum(v) / len(v):.0f}")
PY
}
"$M" "${args[@]}" --threads "$T" --out "$W/one" >/dev/null
OMP_NUM_THREADS=1 "$TR" --no-python --nproc-per-node "$T" --master-addr 127.0.0.1 --master-port $((29500 + RANDOM % 1000)) \
  "$M" "${args[@]}" --threads 1 --out "$W/many" 2>/dev/null
a=$(tps "$W/one"); b=$(tps "$W/many")
echo "| setup | tokens/s |"
echo "|---|---|"
echo "| 1 process × $T threads | $a |"
echo "| $T processes × 1 thread (torchrun, Gloo) | $b |"
python3 -c "print(f'| ratio (processes / threads) | {$b / $a:.3f} |')"
echo
"$TR" --no-python --nproc-per-node "$T" --master-addr 127.0.0.1 --master-port $((29500 + RANDOM % 1000)) \
  "$M" bench allreduce --repeats 10 2>/dev/null
