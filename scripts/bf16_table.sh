#!/usr/bin/env bash
# bf16 on the CPU against the user's alternative (docs/results/bf16-cpu.md): Hugging Face's
# BertModel in fp32 and under torch.autocast("cpu", bfloat16), and our small preset's all-T and
# hybrid (MMTMMTMMTMMT) in fp32 and bf16 — inference at batch 1 and a training step at batch 1,
# lengths 128 … 4096, two threads — with this machine's GEMM peak in each precision.
#
#   scripts/bf16_table.sh [OUT_DIR [TABLE_MD]]    defaults: runs/bf16, docs/results/bf16-cpu.md
#
# Resumable: each measurement is OUT_DIR/<who>-<mode>.json, written once
# (atomically) and read back on a rerun. Run it on a quiet machine: one heavy job at a time.
# MABERT (default build/app/mabert), PYTHON (default .venv/bin/python), THREADS (default 2) and
# LENGTHS (default 128,256,512,1024,2048,4096) may be set in the environment.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
OUT="${1:-$ROOT/runs/bf16}"
TABLE="${2:-$ROOT/docs/results/bf16-cpu.md}"
defaults MABERT="$ROOT/build/app/mabert" PYTHON="$ROOT/.venv/bin/python" THREADS=2 LENGTHS=128,256,512,1024,2048,4096
need_exec "$MABERT" "build first, or set MABERT"
[ -x "$PYTHON" ] || { echo "$0: $PYTHON is not an executable (scripts/setup.sh build makes the venv)" >&2; exit 1; }
mkdir -p "$OUT"

measure() {  # measure FILE command...: runs the command once, its stdout kept as FILE
  local f="$1"; shift
  [ -s "$f" ] && { echo "kept: $f"; return; }
  echo "measuring: $(basename "$f" .json)"
  "$@" > "$f.tmp" 2> "${f%.json}.log" || { echo "$0: failed: $* (log: ${f%.json}.log)" >&2; exit 1; }
  mv "$f.tmp" "$f"
}

for mode in inference train; do
  measure "$OUT/ours-$mode.json" "$MABERT" bench model --preset small --mode "$mode" --batch 1 --train-batch 1 \
    --lengths "$LENGTHS" --threads "$THREADS" --precision both --json --out "$OUT/ours-$mode"
  measure "$OUT/hf-$mode.json" "$PYTHON" "$ROOT/scripts/hf_peer_bench.py" --mode "$mode" --batch 1 \
    --lengths ${LENGTHS//,/ } --threads "$THREADS" --json
done

"$PYTHON" - "$OUT" "$TABLE.tmp" <<'EOF'
import json, os, platform, re, subprocess, sys
out, table = sys.argv[1], sys.argv[2]
load = lambda n: json.load(open(os.path.join(out, n)))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
flags = set(next(l for l in open("/proc/cpuinfo") if l.startswith("flags")).split())
engine = ", ".join(f for f in ("amx_bf16", "avx512_bf16") if f in flags) or "none (bf16 emulated)"
lines = [f"CPU: {cpu}; bf16 engine flags: {engine}; {os.cpu_count()} cores. Measured by scripts/bf16_table.sh "
         "(medians; fp32 and bf16 of each side measured in the same run: ours interleaved round by round, "
         "`bench model --precision both`).", ""]
for mode in ("inference", "train"):
    hf = {r["length"]: r for r in load(f"hf-{mode}.json")["rows"]}
    points = load(f"ours-{mode}.json")
    ours = {p: [dict(x, schedule=x["schedule"].split()[0]) for x in points if x["precision"] == p] for p in ("fp32", "bf16")}
    peak = {p: ours[p][0]["peak_gflops"] for p in ours}
    at = lambda p, s, L: next(x for x in ours[p] if x["schedule"] == s and x["length"] == L)
    schedules = []
    for x in ours["fp32"]:
        if x["schedule"] not in schedules: schedules.append(x["schedule"])
    allt = next(s for s in schedules if set(s) == {"T"})
    hyb = next(s for s in schedules if s != allt)
    what = "inference, batch 1" if mode == "inference" else "training step (forward, backward, AdamW), batch 1"
    lines += [f"### {what}: ms (median)", "",
              "| length | HF fp32 | HF bf16 autocast | all-T fp32 | all-T bf16 | hybrid fp32 | hybrid bf16 | all-T bf16 / HF bf16 | hybrid bf16 / all-T bf16 | bf16 speed-up all-T | bf16 speed-up hybrid |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for L in sorted(hf):
        t = {(s, p): at(p, s, L)["median_ms"] for s in (allt, hyb) for p in ("fp32", "bf16")}
        lines.append(f"| {L} | {hf[L]['fp32_ms']:.1f} | {hf[L]['bf16_ms']:.1f} | {t[allt,'fp32']:.1f} | {t[allt,'bf16']:.1f} | "
                     f"{t[hyb,'fp32']:.1f} | {t[hyb,'bf16']:.1f} | {t[allt,'bf16']/hf[L]['bf16_ms']:.2f} | "
                     f"{t[hyb,'bf16']/t[allt,'bf16']:.2f} | {t[allt,'fp32']/t[allt,'bf16']:.2f}× | {t[hyb,'fp32']/t[hyb,'bf16']:.2f}× |")
    lines += ["", f"Share of this machine's GEMM peak (fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.0f} GFLOP/s, "
              "model FLOPs as docs/KERNELS.md counts them):", "",
              "| length | all-T fp32 | all-T bf16 | hybrid fp32 | hybrid bf16 |", "|---|---|---|---|---|"]
    for L in sorted(hf):
        cells = [f"{at(p, s, L)['gflops']:.0f} GFLOP/s ({100 * at(p, s, L)['gflops'] / peak[p]:.0f} %)"
                 for s in (allt, hyb) for p in ("fp32", "bf16")]
        lines.append(f"| {L} | " + " | ".join(cells) + " |")
    lines.append("")
open(table, "w").write("\n".join(lines))
EOF
mkdir -p "$(dirname "$TABLE")"
# The table goes between the markers of TABLE (a document around it), or makes TABLE.
if [ -f "$TABLE" ] && grep -q '<!-- bf16_table.sh -->' "$TABLE"; then
  python3 - "$TABLE" "$TABLE.tmp" <<'EOF'
import sys
doc, new = open(sys.argv[1]).read(), open(sys.argv[2]).read()
a, b = doc.index("<!-- bf16_table.sh -->"), doc.index("<!-- /bf16_table.sh -->")
open(sys.argv[2], "w").write(doc[:a] + "<!-- bf16_table.sh -->\n" + new + doc[b:])
EOF
fi
mv "$TABLE.tmp" "$TABLE"
echo "table: $TABLE"
