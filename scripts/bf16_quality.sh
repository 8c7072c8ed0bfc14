#!/usr/bin/env bash
# bf16 against fp32 on the recipes a user runs (docs/results/bf16-cpu.md, "Quality"): the demo
# pretraining (`pretrain --demo`, 300 steps) and the shipped SST-2 fine-tuning recipe
# (resources/models/README.md: 3,000 steps of 32 from mabert-tiny), each in fp32 and in bf16,
# the two precisions side by side on one thread each. Prints the held-out MLM loss, the dev
# accuracy at every evaluation and the mean training loss over the last 500 steps.
#
#   scripts/bf16_quality.sh [OUT_DIR]     default runs/bf16-quality; GLUE (default ../shared/data/glue)
#
# Resumable: a finished run (its log says so) is kept and read back.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
OUT="${1:-$ROOT/runs/bf16-quality}"
defaults MABERT="$ROOT/build/app/mabert" GLUE="$ROOT/../shared/data/glue"
need_exec "$MABERT" "build first, or set MABERT"
[ -d "$GLUE/SST-2" ] || { echo "$0: $GLUE/SST-2 is not a folder (set GLUE)" >&2; exit 1; }
mkdir -p "$OUT"

run() {  # NAME args...: one job in OUT/NAME unless it finished before
  local name="$1"; shift
  grep -qs "finished after" "$OUT/$name.log" && { log "kept: $name"; return; }
  rm -rf "$OUT/$name"
  log "running: $name"
  "$MABERT" "$@" --threads 1 --out "$OUT/$name" > "$OUT/$name.log" 2>&1 || { echo "$0: $name failed (log: $OUT/$name.log)" >&2; return 1; }
}
sst2=(finetune --task SST-2 --data "$GLUE/SST-2" --from "$ROOT/resources/models/mabert-tiny"
      --steps 3000 --batch 32 --max-len 64 --lr 0.0003 --eval-every 500)
for p in fp32 bf16; do
  flag=(); [ "$p" = bf16 ] && flag=(--bf16)
  run "demo-$p" pretrain --demo "${flag[@]}" &
  demo_pid=$!
  run "sst2-$p" "${sst2[@]}" "${flag[@]}"
  wait "$demo_pid"
done

python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
def metrics(run):
    return [json.loads(l) for l in open(os.path.join(out, run, "metrics.jsonl")) if l.strip()]
print("| recipe | fp32 | bf16 | difference |")
print("|---|---|---|---|")
a, b = ([r for r in metrics(f"demo-{p}") if r.get("event") == "eval"][-1]["metrics"]["mlm_loss"] for p in ("fp32", "bf16"))
print(f"| demo pretraining: held-out MLM loss at step 300 | {a:.5f} | {b:.5f} | {100 * (b - a) / a:+.4f} % |")
def evals(run):
    return [(r["step"], r["metrics"]["accuracy"]) for r in metrics(run) if r.get("event") == "eval"]
def late_loss(run):
    xs = [r["loss"] for r in metrics(run) if r.get("event") == "step" and r["step"] > 2500]
    return sum(xs) / len(xs) if xs else float("nan")
e = {p: evals(f"sst2-{p}") for p in ("fp32", "bf16")}
fa, fb = e["fp32"][-1][1], e["bf16"][-1][1]
print(f"| SST-2 recipe: dev accuracy at step {e['fp32'][-1][0]} | {fa:.4f} | {fb:.4f} | {100 * (fb - fa):+.2f} points |")
la, lb = late_loss("sst2-fp32"), late_loss("sst2-bf16")
print(f"| SST-2 recipe: mean training loss, steps 2,501-3,000 | {la:.4f} | {lb:.4f} | {100 * (lb - la) / la:+.3f} % |")
print(f"| SST-2 recipe: dev accuracy at steps {', '.join(str(s) for s, _ in e['fp32'])} | "
      + ", ".join(f"{x:.3f}" for _, x in e["fp32"]) + " | " + ", ".join(f"{x:.3f}" for _, x in e["bf16"]) + " | "
      + f"at most {100 * max(abs(x - y) for (_, x), (_, y) in zip(e['fp32'], e['bf16'])):.2f} points at any |")
PY
