# Sourced by the CLI tests: a scratch folder $W (removed on exit) with its own run registry, and
# the reporting every test uses — ok/bad print a line each, bad marks the test failed (`exit
# $fail` at the end), run keeps a command's output in $W/out and $W/err and shows the error's
# tail when it fails.
set -u
W="$(mktemp -d)"; trap 'rm -rf "$W"' EXIT
export MABERT_REGISTRY="$W/runs.db"
fail=0
ok()  { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
run() { "$@" >"$W/out" 2>"$W/err" || { echo "command failed: $*"; tail -20 "$W/err"; return 1; }; }

# The distributed tests' helpers: a free port on 127.0.0.1, and a comparison of two runs (their
# metrics.jsonl step losses and the latest checkpoint's weights; prints max |Δ|), given the
# tolerances and optionally the number of logged steps both must have:
#   compare RUN_A RUN_B TOL_LOSS TOL_W [STEPS]
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
compare() {
  python3 - "$1" "$2" "$3" "$4" "${5:-0}" <<'PY'
import json, struct, sys, os
a, b, tol_loss, tol_w, steps = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
def losses(d):
    return [j["loss"] for j in map(json.loads, open(os.path.join(d, "metrics.jsonl"))) if j.get("event") == "step"]
def weights(d):
    ck = os.path.join(d, "checkpoints", open(os.path.join(d, "checkpoints", "latest")).read().strip(), "model.safetensors")
    raw = open(ck, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n]); data = raw[8 + n:]
    out = {}
    for k, v in head.items():
        if k == "__metadata__": continue
        s, e = v["data_offsets"]
        out[k] = struct.unpack("<%df" % ((e - s) // 4), data[s:e])
    return out
la, lb = losses(a), losses(b)
assert len(la) == len(lb) and la and (steps == 0 or len(la) == steps), (len(la), len(lb), steps)
dl = max(abs(x - y) / abs(x) for x, y in zip(la, lb))
wa, wb = weights(a), weights(b)
assert wa.keys() == wb.keys()
# MAP's score bias shifts every position's score alike, and the softmax over positions ignores a
# shared shift: its gradient is zero in exact arithmetic, so what it holds is Adam's normalised
# rounding noise (steps of up to the learning rate), different under any two summation orders.
noise = {"pooling.score.bias"}
dw = max(max(abs(x - y) for x, y in zip(wa[k], wb[k])) for k in wa if k not in noise)
print(f"    {len(la)} steps: max relative |Δloss| = {dl:.3g} (tolerance {tol_loss:g}); max |Δw| = {dw:.3g} (tolerance {tol_w:g})")
sys.exit(0 if dl <= tol_loss and dw <= tol_w else 1)
PY
}
