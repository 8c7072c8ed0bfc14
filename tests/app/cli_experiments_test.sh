#!/usr/bin/env bash
# The experiment commands end to end: `bench model` (medians, ratios against the all-T baseline,
# CSV/Markdown/SVG), `drift` on a short pretraining run (flat under full masking), and `ablate`
# (dry run of the shipped grids; a bad grid names its field and exits non-zero).
set -u
MABERT="$1"; DEMO="$2"; GRIDS="$3"
. "$(dirname "$0")/lib.sh"

run "$MABERT" bench model --preset tiny --schedules MMT --lengths 32,64 --mode both --repeats 5 --out "$W/eff" --json \
  && python3 - "$W" <<'PY' && ok "bench model" || bad "bench model"
import json, sys, csv
w = sys.argv[1]
pts = json.load(open(f"{w}/out"))
assert len(pts) == 8, len(pts)  # 2 modes x (MMT + the added TTT baseline) x 2 lengths
assert all(p["min_ms"] <= p["median_ms"] <= p["max_ms"] and p["peak_bytes"] > 0 for p in pts)
rows = list(csv.DictReader(open(f"{w}/eff.csv")))
assert len(rows) == 8 and "time_vs_TTT" in rows[0]
assert all(abs(float(r["time_vs_TTT"]) - 1) < 1e-9 for r in rows if r["schedule"] == "TTT")
md = open(f"{w}/eff.md").read()
assert "### inference" in md and "### train" in md and "faster than TTT" in md
for m in ("inference", "train"):
    assert open(f"{w}/eff-{m}.svg").read().startswith("<svg")
PY
# The baselines: MaBERT against the five baseline presets, with the mean-of-baselines ratio.
run "$MABERT" bench model --baselines --preset tiny --lengths 32,64 --mode inference --repeats 5 --out "$W/bl" --json \
  && python3 - "$W" <<'PY' && ok "bench model --baselines" || bad "bench model --baselines"
import json, sys
w = sys.argv[1]
pts = json.load(open(f"{w}/out"))
names = ["MaBERT", "BERT", "ALBERT", "Longformer", "BigBird", "DeBERTa"]
assert sorted({p["schedule"] for p in pts}) == sorted(names), {p["schedule"] for p in pts}
assert all(p["median_ms"] > 0 and p["params"] > 0 and not p["error"] for p in pts)
params = {p["schedule"]: p["params"] for p in pts}
assert params["ALBERT"] < params["BERT"] < params["Longformer"]  # sharing; global projections
md = open(f"{w}/bl.md").read()
assert "mean of others / MaBERT" in md and "### parameters" in md
# The Markdown ratio (printed to 2 decimals) is the mean of the baselines' medians over MaBERT's,
# computed from the unrounded medians of the same run.
med = {p["schedule"]: p["median_ms"] for p in pts if p["length"] == 64}
want = sum(med[n] for n in names[1:]) / 5 / med["MaBERT"]
comparison, flop_table = md.split("Achieved GFLOP/s")
rows64 = [l for l in comparison.splitlines() if l.startswith("| 64 |")]
assert rows64, md
for line in rows64:
    ratio = float(line.strip("|").split("|")[-1])
    assert abs(ratio - want) <= 0.0051, (ratio, want, line)
# The achieved FLOP rate: model FLOPs per median time, and its share of the GEMM peak measured in
# the same run, as JSON and as the Markdown table (one cell per model and length).
peak = pts[0]["peak_gflops"]
assert peak > 0 and all(p["gflops"] > 0 and p["peak_gflops"] == peak for p in pts), pts
cells = [c.strip() for c in [l for l in flop_table.splitlines() if l.startswith("| 64 |")][0].strip("|").split("|")[1:]]
for n, cell in zip(names, cells):
    g = next(p["gflops"] for p in pts if p["schedule"] == n and p["length"] == 64)
    assert cell == f"{g:.1f} ({100 * g / peak:.0f} %)", (n, cell, g, peak)
print(f"    peak {peak:.1f} GFLOP/s; at 64 tokens: " + ", ".join(f"{n} {c}" for n, c in zip(names, cells)))
PY
# A grid variant can start from a baseline preset: the dry run shows each variant's schedule.
run "$MABERT" ablate --grid "$GRIDS/baselines-tiny.json" --dry-run \
  && grep -q "DDDDDD" "$W/out" && grep -q "LLLLLL" "$W/out" && ok "baselines grid variants" || bad "baselines grid: $(cat "$W/out")"
# Commands that run models start with libgomp's spinning bounded unless the user chose a wait
# policy (util/openmp_wait.h); the kernels split over the intra-op threads; bench scan times the
# scan and the whole SSM core (conv, projections, scan) on each path.
for want in "GOMP_SPINCOUNT=10000" "OMP_WAIT_POLICY=passive"; do
  case "$want" in OMP*) pre=(env "$want") ;; *) pre=(env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY) ;; esac
  "${pre[@]}" "$MABERT" bench scan --lengths 16 --batch 1 --paths cpu --repeats 1 --threads 2 --json >"$W/scan.json" 2>"$W/err" \
    && python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["openmp_wait"] == sys.argv[2], j["openmp_wait"]; assert j["cpu_kernel_threads"] == 2, j; assert [r["path"] for r in j["rows"]] == ["cpu", "core:cpu"], j["rows"]' \
       "$W/scan.json" "$want" && ok "OpenMP wait: $want" || bad "OpenMP wait $want: $(cat "$W/err")"
done
# bf16 on the CPU says which path it takes: the engine bench gemm reports agrees with the CPU's
# flags, and bench model --bf16 warns exactly when there is no engine (bf16's products then run
# in fp32 on bf16-rounded operands).
engine=0; grep -qwE 'amx_bf16|avx512_bf16' /proc/cpuinfo && engine=1
run "$MABERT" bench gemm --seconds 0.01 --threads 2 --json \
  && python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["bf16_engine"] == (sys.argv[2] == "1"), j["device"]; assert j["bf16_products"] == ("native" if sys.argv[2] == "1" else "fp32"), j; assert all(s["fp32_gflops"] > 0 and s["bf16_gflops"] > 0 for s in j["shapes"]), j' \
     "$W/out" "$engine" \
  && cpu=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["device"])' "$W/out") \
  && run "$MABERT" bench model --preset tiny --schedules MT --lengths 16 --mode both --train-batch 2 --repeats 5 --warmup 0 --bf16 --threads 2 \
  && if [ $engine = 1 ]; then ! grep -q "slower than fp32" "$W/err"; else grep -q "bf16 matrix engine: none" "$W/err"; fi \
  && ok "bf16 on this CPU runs and says which ($cpu)" \
  || bad "bf16 engine report: $(head -3 "$W/err")"
# Both precisions in one run: each model twice ("<name> bf16" timed in the same rounds), each point
# read against its own precision's GEMM peak, the speed-up tabled; --trace leaves one Chrome trace
# per point that scripts/op_profile.py tables.
run "$MABERT" bench model --preset tiny --schedules MT --lengths 16 --mode train --train-batch 2 --repeats 5 --warmup 0 \
    --precision both --threads 2 --json --out "$W/both" --trace "$W/tr" \
  && python3 - "$W" <<'PY' \
  && python3 "$(dirname "$0")/../../scripts/op_profile.py" "$W/tr-train-MT_bf16-16.json" --shapes --top 5 >"$W/ops" \
  && grep -q "aten::" "$W/ops" && ok "bench model --precision both, --trace" || bad "bench model --precision both: $(head -3 "$W/err")"
import json, sys
w = sys.argv[1]
pts = json.load(open(f"{w}/out"))
assert [(p["schedule"], p["precision"]) for p in pts] == [("MT", "fp32"), ("TT", "fp32"), ("MT bf16", "bf16"), ("TT bf16", "bf16")], pts
peaks = {p["precision"]: p["peak_gflops"] for p in pts}
assert peaks["fp32"] > 0 and peaks["bf16"] > 0 and peaks["fp32"] != peaks["bf16"], peaks
md = open(f"{w}/both.md").read()
assert "bf16 speed-up" in md and "share of fp32 GEMM" in md and "share of bf16 GEMM" in md, md
PY
# The products' way overridden against this CPU's default (tests/core/test_model compares the two
# numerically): bench gemm reports it; a value that is neither way stops a bf16 run, naming the variable.
other=native; [ $engine = 1 ] && other=fp32
MABERT_CPU_BF16_PRODUCTS=$other run "$MABERT" bench gemm --seconds 0.01 --threads 2 --json \
  && python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["bf16_products"] == sys.argv[2], j' "$W/out" "$other" \
  && ok "MABERT_CPU_BF16_PRODUCTS=$other taken" || bad "MABERT_CPU_BF16_PRODUCTS=$other: $(head -3 "$W/err")"
MABERT_CPU_BF16_PRODUCTS=fast "$MABERT" bench model --preset tiny --schedules MT --lengths 16 --repeats 5 --warmup 0 --bf16 >/dev/null 2>"$W/err" \
  && bad "MABERT_CPU_BF16_PRODUCTS=fast accepted" || { grep -q "MABERT_CPU_BF16_PRODUCTS: 'fast' is not one of native, fp32" "$W/err" && ok "a bad products way named" || bad "products way message: $(cat "$W/err")"; }
"$MABERT" bench model --bf16 --precision both --lengths 16 >/dev/null 2>"$W/err" \
  && bad "bench model accepted --bf16 with --precision" || { grep -q "excludes" "$W/err" && ok "--bf16 and --precision refused together" || bad "--bf16/--precision message: $(cat "$W/err")"; }
"$MABERT" bench model --precision half --lengths 16 >/dev/null 2>"$W/err" \
  && bad "bench model accepted --precision half" || { grep -q -- "--precision: expected fp32, bf16 or both" "$W/err" && ok "unknown precision named" || bad "precision message: $(cat "$W/err")"; }
"$MABERT" bench model --preset tiny --lengths 32 --repeats 2 >/dev/null 2>"$W/err" \
  && bad "bench model accepted 2 repeats" || { grep -q "repeats" "$W/err" && ok "fewer than 5 repeats refused" || bad "repeats message"; }

run "$MABERT" pretrain --corpus "$DEMO" --preset tiny --schedule MMT --vocab 600 --steps 20 --batch 8 --max-len 48 \
  --max-sentences 300 --out "$W/pre" --json && ok "pretrain for drift" || bad "pretrain for drift"
run "$MABERT" drift --run "$W/pre" --text "$DEMO" --count 8 --pads 0,2,8,32 --out "$W/drift" \
  && python3 - "$W" <<'PY' && ok "drift" || bad "drift"
import csv, sys
w = sys.argv[1]
rows = list(csv.DictReader(open(f"{w}/drift.csv")))
assert len(rows) == 2 * 5 * 4, len(rows)  # sides x configs x pad counts
full = [r for r in rows if r["config"] == "pre+post+state"]
assert all(float(r["cls_max"]) <= 1e-5 and float(r["mean_max"]) <= 1e-5 for r in full)
none_left = [r for r in rows if r["config"] == "none" and r["side"] == "left" and r["pads"] == "32"]
assert float(none_left[0]["mean"]) > float(full[-1]["mean"])
for s in ("left", "right"):
    for m in ("cls", "mean"):
        assert open(f"{w}/drift-{s}-{m}.svg").read().startswith("<svg")
PY

for g in "$GRIDS"/*.json; do
  run "$MABERT" ablate --grid "$g" --dry-run && ok "ablate --dry-run $(basename "$g")" || bad "ablate --dry-run $g"
done
echo '{"name": "x", "variants": [{"name": "a"}], "pretrain": {"corpus": ["c"]}, "tasks": ["RTE"], "data": "d", "seeds": "1"}' >"$W/bad.json"
"$MABERT" ablate --grid "$W/bad.json" --out "$W/g" >/dev/null 2>"$W/err" \
  && bad "bad grid accepted" || { grep -q "bad.json: field 'seeds'" "$W/err" && ok "bad grid names the field" || bad "bad grid message: $(cat "$W/err")"; }
exit $fail
