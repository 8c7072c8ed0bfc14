#!/usr/bin/env bash
# Data-parallel training on c10d under torchrun (Gloo, 127.0.0.1 only), as a user launches it:
#  - 2 ranks at global batch 8 against 1 process at batch 8, same seed (dropout 0, so the only
#    difference is the order of floating-point sums): losses step by step and final weights within
#    a stated tolerance, printed; the ranks end bitwise identical (checked by the loop itself);
#    the same for fine-tuning;
#  - checkpoints' checksums agree with Python's zlib; a run resumes at another world size (2 -> 1,
#    1 -> 2) and ends where the uninterrupted one does;
#  - at dropout 0.1 with keyed masks, 1 process, 2 and 3 ranks end at the same weights, and a
#    2-rank run resumes on 3 ranks; with --dropout-masks stream (as DDP) 2 ranks differ;
#  - a rank killed with SIGKILL under --max-restarts 1 (dropout 0.1): the group restarts, resumes
#    from the latest checkpoint by itself and finishes bitwise equal to the uninterrupted run, the
#    step never going back; a hung rank (SIGSTOP) is named within --dist-timeout and the group
#    restarts and finishes; without torchrun's agent the surviving rank names the lost peer within
#    --dist-timeout;
#  - bad launches: a batch that does not divide, an unreachable store, ranks given different jobs.
set -u
MABERT="$1"; TORCHRUN="$2"; DEMO="$3"; SHARED="$4"
[ -x "$TORCHRUN" ] || { echo "no torchrun at $TORCHRUN"; exit 77; }
. "$(dirname "$0")/lib.sh"
trap 'rm -rf "$W"; kill $(jobs -p) 2>/dev/null' EXIT
trun() { "$TORCHRUN" --no-python --nproc-per-node "${NPROC:-2}" --master-addr 127.0.0.1 --master-port "$(port)" "$@"; }

"$MABERT" tokenizer train --input "$DEMO" --out "$W/tok" --vocab 800 >/dev/null 2>&1 || bad "tokenizer"
cat >"$W/cfg.json" <<'JSON'
{"schedule": "MMTMMT", "d_model": 64, "n_heads": 4, "d_ffn": 128, "d_state": 8, "max_len": 64, "dropout": 0.0}
JSON
base=(pretrain --corpus "$DEMO" --tokenizer "$W/tok.model" --config "$W/cfg.json" --max-len 32 --max-sentences 400 --log-every 1)
pre=("${base[@]}" --steps 20 --batch 8 --lr 2e-3 --save-every 5)

# --- equivalence ---------------------------------------------------------------------------------
"$MABERT" "${pre[@]}" --out "$W/one" --threads 2 --quiet >/dev/null 2>"$W/one.err" || { bad "1-process pretraining"; tail "$W/one.err"; }
trun "$MABERT" "${pre[@]}" --out "$W/two" >"$W/two.out" 2>"$W/two.err" || { bad "2-rank pretraining"; tail -20 "$W/two.err"; }
grep -q "replicas' weights are bitwise identical" "$W/two.err" && ok "2 ranks end with bitwise identical weights" \
  || bad "no replica check in the log"
compare "$W/one" "$W/two" 1e-5 1e-5 && ok "2 ranks × 4 = 1 process × 8 (pretraining)" || bad "pretraining equivalence"
# Gradient accumulation: 2 micro-steps per step, all-reduced once per step.
"$MABERT" "${pre[@]}" --accum 2 --out "$W/one-acc" --threads 2 --quiet >/dev/null 2>&1 || bad "1-process accumulation"
trun "$MABERT" "${pre[@]}" --accum 2 --out "$W/two-acc" >/dev/null 2>"$W/two-acc.err" || { bad "2-rank accumulation"; tail "$W/two-acc.err"; }
compare "$W/one-acc" "$W/two-acc" 1e-5 1e-5 && ok "with --accum 2: 2 ranks = 1 process" || bad "accumulation equivalence"
# Gradients all-reduced during backward, bucket by bucket as they become ready (the default; here
# in buckets of 20 kB, so there are many), and all after backward (--overlap-comm off): the same
# sums, the same weights as 1 process.
trun "$MABERT" "${pre[@]}" --comm-bucket-mb 0.02 --out "$W/two-buckets" >/dev/null 2>"$W/two-buckets.err" \
  || { bad "2 ranks, small gradient buckets"; tail "$W/two-buckets.err"; }
buckets="$(grep -o 'overlapped: [0-9]* buckets, [0-9]* launched during backward' "$W/two-buckets.err")"
compare "$W/one" "$W/two-buckets" 1e-5 1e-5 20 && [ -n "$buckets" ] && ok "2 ranks, gradients all-reduced during backward ($buckets) = 1 process" \
  || bad "overlapped all-reduce in small buckets"
trun "$MABERT" "${pre[@]}" --overlap-comm off --out "$W/two-sync" >/dev/null 2>"$W/two-sync.err" || { bad "2 ranks, --overlap-comm off"; tail "$W/two-sync.err"; }
compare "$W/one" "$W/two-sync" 1e-5 1e-5 20 && grep -q "not overlapped" "$W/two-sync.err" \
  && ok "2 ranks, --overlap-comm off (one all-reduce after backward) = 1 process" || bad "--overlap-comm off"
# One rank under torchrun goes through the process group (every collective, as NCCL would on a
# GPU): bit for bit the plain process.
"$TORCHRUN" --no-python --nproc-per-node 1 --master-addr 127.0.0.1 --master-port "$(port)" "$MABERT" "${pre[@]}" \
  --threads 2 --out "$W/solo" >/dev/null 2>"$W/solo.err" || { bad "1-rank torchrun"; tail "$W/solo.err"; }
compare "$W/one" "$W/solo" 0 0 && ok "1 rank under torchrun (a process group of one) = the plain process, bit for bit" \
  || bad "1-rank torchrun differs"
# Two nodes as the README launches them — one torchrun agent per node, c10d rendezvous at the
# first — both on 127.0.0.1 here: the same run as 1 process.
rdzv=$(port); agents=()
for node in 0 1; do
  timeout 300 "$TORCHRUN" --no-python --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d --rdzv-endpoint "127.0.0.1:$rdzv" \
    --rdzv-id two-nodes --max-restarts 0 "$MABERT" "${pre[@]}" --out "$W/nodes" >/dev/null 2>"$W/node$node.err" &
  agents+=($!)
done
wait_ok=0; for j in "${agents[@]}"; do wait "$j" || wait_ok=1; done
[ $wait_ok = 0 ] && python3 -c "import json; d=json.load(open('$W/nodes/run.json')); assert d['world_size']==2, d" \
  && compare "$W/one" "$W/nodes" 1e-5 1e-5 && ok "2 nodes (two torchrun agents, --nnodes 2, c10d rendezvous on 127.0.0.1) = 1 process" \
  || { bad "two-node launch"; tail -5 "$W/node0.err" "$W/node1.err"; }
python3 -c "import json; d=json.load(open('$W/two/run.json')); assert d['world_size']==2 and d['backend']=='gloo'" \
  && "$MABERT" runs show "$W/two" | grep -q "world size 2 (gloo)" && ok "run.json and runs show: world size and backend" \
  || bad "world size / backend not recorded"

# Every checkpoint carries its files' sizes and CRC-32s; Python's zlib agrees with them.
python3 - "$W/two/checkpoints" <<'PY' && ok "checksums.json matches zlib.crc32 for every file of every checkpoint" || bad "checkpoint checksums"
import json, os, sys, zlib
root, n = sys.argv[1], 0
for d in sorted(os.listdir(root)):
    if not d.startswith("ckpt-"): continue
    sums = json.load(open(os.path.join(root, d, "checksums.json")))
    for f, want in sums.items():
        data = open(os.path.join(root, d, f), "rb").read()
        assert len(data) == want["bytes"] and zlib.crc32(data) == want["crc32"], (d, f)
        n += 1
assert n >= 8, n
PY

# Resuming at another world size: a run interrupted after step 15 (its folder as the kill would
# leave it) continues on 1 process from 2 ranks' checkpoint, and on 2 ranks from 1 process's, and
# ends where the uninterrupted runs end (dropout 0: the data order does not depend on the ranks).
cut_at_15() {  # copy of run $1 as if it had stopped after step 15
  cp -r "$1" "$2" && rm -rf "$2/checkpoints/ckpt-00000020" && echo ckpt-00000015 >"$2/checkpoints/latest"
  python3 - "$2/metrics.jsonl" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1]) if json.loads(l).get("event") != "step" or json.loads(l)["step"] <= 15]
open(sys.argv[1], "w").writelines(lines)
PY
}
cut_at_15 "$W/two" "$W/two-then-one"
"$MABERT" "${pre[@]}" --resume --out "$W/two-then-one" --threads 2 --quiet >/dev/null 2>"$W/two-then-one.err" \
  || { bad "resume of a 2-rank run on 1 process"; tail "$W/two-then-one.err"; }
compare "$W/one" "$W/two-then-one" 1e-5 1e-5 && ok "2 ranks to step 15, resumed on 1 process to 20 = 1 process throughout" \
  || bad "2 -> 1 resume"
cut_at_15 "$W/one" "$W/one-then-two"
trun "$MABERT" "${pre[@]}" --resume --out "$W/one-then-two" >/dev/null 2>"$W/one-then-two.err" \
  || { bad "resume of a 1-process run on 2 ranks"; tail "$W/one-then-two.err"; }
grep -q "resumed from .*ckpt-00000015 at step 15" "$W/one-then-two.err" && compare "$W/two" "$W/one-then-two" 1e-5 1e-5 \
  && ok "1 process to step 15, resumed on 2 ranks to 20 = 2 ranks throughout" \
  || bad "1 -> 2 resume"

# --- token shards: each rank reads and masks only its rows of the global batch -------------------
# The demo corpus prepared into shards (cut small, so a batch spans several); 1 process, 2 ranks
# and 3 ranks (global batch 12, dropout 0.1) end at the same weights, and a 2-rank run cut at step
# 15 continues on 3 ranks with the same examples in the same order.
sed 's/"dropout": 0.0/"dropout": 0.1/' "$W/cfg.json" >"$W/cfg-dropout.json"
"$MABERT" data prepare --corpus "$DEMO" --tokenizer "$W/tok.model" --out "$W/shards" --chunk-mb 0.02 --quiet \
  >/dev/null 2>"$W/prep.err" || { bad "data prepare"; tail "$W/prep.err"; }
spre=(pretrain --shards "$W/shards" --config "$W/cfg-dropout.json" --max-len 32 --log-every 1 --steps 20 --batch 12 --lr 2e-3 --save-every 5)
"$MABERT" "${spre[@]}" --out "$W/sh1" --threads 2 --quiet >/dev/null 2>"$W/sh1.err" || { bad "1-process run from shards"; tail "$W/sh1.err"; }
trun "$MABERT" "${spre[@]}" --out "$W/sh2" >/dev/null 2>"$W/sh2.err" || { bad "2-rank run from shards"; tail "$W/sh2.err"; }
NPROC=3 trun "$MABERT" "${spre[@]}" --out "$W/sh3" >/dev/null 2>"$W/sh3.err" || { bad "3-rank run from shards"; tail "$W/sh3.err"; }
compare "$W/sh1" "$W/sh2" 1e-5 1e-5 20 && ok "token shards: 2 ranks × 6 = 1 process × 12" || bad "shards, 2 ranks"
compare "$W/sh1" "$W/sh3" 1e-5 1e-5 20 && ok "token shards: 3 ranks × 4 = 1 process × 12" || bad "shards, 3 ranks"
cut_at_15 "$W/sh2" "$W/sh2-then-3"
NPROC=3 trun "$MABERT" "${spre[@]}" --resume --out "$W/sh2-then-3" >/dev/null 2>"$W/sh2-then-3.err" \
  || { bad "resume of a 2-rank shard run on 3 ranks"; tail "$W/sh2-then-3.err"; }
grep -q "resumed from .*ckpt-00000015 at step 15" "$W/sh2-then-3.err" && compare "$W/sh1" "$W/sh2-then-3" 1e-5 1e-5 20 \
  && ok "token shards: 2 ranks to step 15, resumed on 3 ranks to 20 = 1 process throughout" || bad "shards 2 -> 3 resume"

# --- results independent of the world size, dropout included ------------------------------------
# At dropout 0.1 with keyed masks (the default: each example's masks drawn from the seed, the
# micro-step and its row in the global batch), 1 process, 2 ranks and 3 ranks (global batch 12)
# end at the same weights within the reduction-order tolerance, and a 2-rank run cut at step 15
# resumes on 3 ranks and ends there too. With --dropout-masks stream (one random stream per rank,
# as PyTorch DDP) 2 ranks drift from 1 process far beyond it: printed, for scale.
sed 's/"dropout": 0.0/"dropout": 0.1/' "$W/cfg.json" >"$W/cfg-dropout.json"
dpre=("${base[@]/cfg.json/cfg-dropout.json}" --steps 20 --batch 12 --lr 2e-3 --save-every 5)
"$MABERT" "${dpre[@]}" --out "$W/d1" --threads 2 --quiet >/dev/null 2>"$W/d1.err" || { bad "1-process run at dropout 0.1"; tail "$W/d1.err"; }
trun "$MABERT" "${dpre[@]}" --out "$W/d2" >/dev/null 2>"$W/d2.err" || { bad "2-rank run at dropout 0.1"; tail "$W/d2.err"; }
NPROC=3 trun "$MABERT" "${dpre[@]}" --out "$W/d3" >/dev/null 2>"$W/d3.err" || { bad "3-rank run at dropout 0.1"; tail "$W/d3.err"; }
compare "$W/d1" "$W/d2" 1e-5 1e-5 && ok "dropout 0.1, keyed masks: 2 ranks × 6 = 1 process × 12" || bad "keyed dropout, 2 ranks"
compare "$W/d1" "$W/d3" 1e-5 1e-5 && ok "dropout 0.1, keyed masks: 3 ranks × 4 = 1 process × 12" || bad "keyed dropout, 3 ranks"
cut_at_15 "$W/d2" "$W/d2-then-3"
NPROC=3 trun "$MABERT" "${dpre[@]}" --resume --out "$W/d2-then-3" >/dev/null 2>"$W/d2-then-3.err" \
  || { bad "resume of a 2-rank run on 3 ranks"; tail "$W/d2-then-3.err"; }
grep -q "resumed from .*ckpt-00000015 at step 15" "$W/d2-then-3.err" && compare "$W/d1" "$W/d2-then-3" 1e-5 1e-5 \
  && ok "dropout 0.1: 2 ranks to step 15, resumed on 3 ranks to 20 = 1 process throughout" || bad "2 -> 3 resume"
"$MABERT" "${dpre[@]}" --dropout-masks stream --out "$W/s1" --threads 2 --quiet >/dev/null 2>&1 || bad "1-process run, stream masks"
trun "$MABERT" "${dpre[@]}" --dropout-masks stream --out "$W/s2" >/dev/null 2>"$W/s2.err" || { bad "2-rank run, stream masks"; tail "$W/s2.err"; }
if compare "$W/s1" "$W/s2" 1e-5 1e-5; then bad "stream masks: 2 ranks matched 1 process (the masks did not depend on the ranks?)"
else ok "dropout 0.1, --dropout-masks stream (as DDP): 2 ranks differ from 1 process (above)"; fi
python3 -c "import json; d=json.load(open('$W/s1/run.json')); assert d['train']['dropout_masks']=='stream', d['train']" \
  && ok "run.json records --dropout-masks stream" || bad "dropout_masks not recorded"

if [ -d "$SHARED/glue/RTE" ]; then
  ft=(finetune --task RTE --data "$SHARED/glue/RTE" --from "$W/one" --steps 12 --batch 8 --max-len 64 --max-train 200
      --log-every 1 --lr 1e-3 --eval-every 6 --save-every 6)
  "$MABERT" "${ft[@]}" --out "$W/ft1" --threads 2 --quiet >/dev/null 2>&1 || bad "1-process fine-tuning"
  trun "$MABERT" "${ft[@]}" --out "$W/ft2" >/dev/null 2>"$W/ft2.err" || { bad "2-rank fine-tuning"; tail -20 "$W/ft2.err"; }
  compare "$W/ft1" "$W/ft2" 1e-5 1e-5 && ok "2 ranks × 4 = 1 process × 8 (fine-tuning RTE)" || bad "fine-tuning equivalence"
  # The 2 ranks evaluate half the dev set each and gather the predictions: the same metrics as one
  # process scoring all of it, at every evaluation (and so the same best-model decisions).
  python3 - "$W/ft1/metrics.jsonl" "$W/ft2/metrics.jsonl" <<'PY' && ok "sharded evaluation on 2 ranks: every eval's metrics = 1 process's" || bad "sharded evaluation"
import json, sys
ev = [[j for j in map(json.loads, open(f)) if j.get("event") == "eval"] for f in sys.argv[1:]]
assert len(ev[0]) == len(ev[1]) >= 2, [len(e) for e in ev]
for a, b in zip(*ev):
    assert a["step"] == b["step"] and a["metrics"].keys() == b["metrics"].keys(), (a, b)
    assert all(abs(a["metrics"][k] - b["metrics"][k]) <= 1e-9 for k in a["metrics"]), (a, b)
print("    " + "; ".join(f"step {a['step']}: " + ", ".join(f"{k} {v:.4f}" for k, v in a["metrics"].items()) for a in ev[1]))
PY
fi

# --- a distributed grid: the same results table as one process --------------------------------------
if [ -d "$SHARED/glue/SST-2" ]; then
  cat >"$W/grid.json" <<JSON
{"name": "toy", "preset": "tiny", "model": {"d_model": 32, "n_heads": 2, "d_ffn": 64, "d_state": 8, "max_len": 64},
 "variants": [{"name": "MMT", "schedule": "MMT"}, {"name": "TTT", "schedule": "TTT"}, {"name": "MMT cls", "schedule": "MMT", "pooling": "cls"}],
 "pretrain": {"corpus": ["$(realpath "$DEMO")"], "vocab": 500, "steps": 6, "batch": 8, "max_len": 32, "lr": 2e-3},
 "finetune": {"steps": 16, "batch": 16, "max_len": 48, "lr": 3e-3, "max_train": 512},
 "tasks": ["SST-2"], "data": "$(realpath "$SHARED")/glue", "seeds": [1, 2]}
JSON
  "$MABERT" ablate --grid "$W/grid.json" --out "$W/g1" --threads 1 >/dev/null 2>"$W/g1.err" || bad "1-process grid"
  MABERT_REGISTRY="$W/g2.db" trun "$MABERT" ablate --grid "$W/grid.json" --out "$W/g2" >"$W/g2.md" 2>"$W/g2.err" || { bad "2-rank grid"; tail "$W/g2.err"; }
  if cmp -s "$W/g1/results.md" "$W/g2/results.md" && cmp -s "$W/g1/results.csv" "$W/g2/results.csv" && grep -q "^\[rank 1\] fine-tuning" "$W/g2.err"; then
    ok "a 2-rank grid ($(grep -c '^\[rank 1\] fine-tuning' "$W/g2.err") of 6 cells on rank 1) gives the 1-process results table and scores"
    sed 's/^/    /' "$W/g2/results.csv"
  else
    bad "distributed grid table differs"; diff "$W/g1/results.csv" "$W/g2/results.csv"
  fi
  python3 - "$W/g2.db" <<'PY' && ok "rank 0 recorded every run of the grid (2 encoders, 6 cells)" || bad "grid registry rows"
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("select kind, status from runs").fetchall()
assert sorted(rows) == [("finetune", "finished")] * 6 + [("pretrain", "finished")] * 2, rows
PY
  # Rerun with one cell kept as its result.json alone (as scripts/recall_cells.sh restores cells on
  # another machine): nothing is trained, rank 0 records nothing again, and the table is the same.
  cell="$(dirname "$(find "$W/g2/cells" -name result.json | sort | head -1)")"
  find "$cell" -mindepth 1 ! -name result.json -exec rm -rf {} +
  cp "$W/g2/results.csv" "$W/g2-first.csv"
  if ! MABERT_REGISTRY="$W/g2.db" trun "$MABERT" ablate --grid "$W/grid.json" --out "$W/g2" >/dev/null 2>"$W/g2b.err"; then
    bad "2-rank rerun over a restored cell: $(grep -m1 "error" "$W/g2b.err")"
  elif ! cmp -s "$W/g2-first.csv" "$W/g2/results.csv" || grep -q "^\[rank .\] fine-tuning" "$W/g2b.err"; then
    bad "2-rank rerun trained again or changed the table"; diff "$W/g2-first.csv" "$W/g2/results.csv"
  else
    python3 - "$W/g2.db" <<'PY' && ok "a 2-rank rerun over finished and restored cells trains and records nothing again" || bad "2-rank rerun recorded again"
import sqlite3, sys
n = sqlite3.connect(sys.argv[1]).execute("select count(*) from runs").fetchone()[0]
assert n == 8, n
PY
  fi
fi

# --- faults --------------------------------------------------------------------------------------
# Rank 1 killed mid-run (a checkpoint every step): torchrun restarts the group, which resumes —
# with dropout on, so each rank's random stream must come back from the checkpoint: the restarted
# run ends bitwise equal to the same run never interrupted.
slow=("${base[@]/cfg.json/cfg-dropout.json}" --batch 8 --save-every 1)
trun "$MABERT" "${slow[@]}" --steps 40 --out "$W/straight" >/dev/null 2>"$W/straight.err" || { bad "2-rank run with dropout"; tail "$W/straight.err"; }
( for _ in $(seq 200); do
    if [ -f "$W/kill/metrics.jsonl" ] && [ "$(grep -c '"step"' "$W/kill/metrics.jsonl")" -ge 8 ]; then
      pkill -KILL -n -f -- "--out $W/kill" && exit 0   # the newest: a worker (rank), not the agent
    fi
    sleep 0.1
  done ) &
killer=$!
trun --max-restarts 1 "$MABERT" "${slow[@]}" --steps 40 --out "$W/kill" >/dev/null 2>"$W/kill.err"; rc=$?
wait $killer 2>/dev/null
steps=$(python3 -c "import json; print(' '.join(str(j['step']) for j in map(json.loads, open('$W/kill/metrics.jsonl')) if j.get('event')=='step'))")
if [ $rc = 0 ] && grep -q "resumed from" "$W/kill.err" && "$MABERT" runs check "$W/kill" --json | python3 -c "import json,sys; assert json.load(sys.stdin)['step']==40"; then
  ok "SIGKILL of a rank under --max-restarts 1: restarted, $(grep -o 'resumed from .*' "$W/kill.err" | sed 's#.*/##'), finished at step 40"
else
  bad "restart after SIGKILL (rc $rc)"; tail -20 "$W/kill.err"
fi
cmp -s "$W/straight/checkpoints/ckpt-00000040/model.safetensors" "$W/kill/checkpoints/ckpt-00000040/model.safetensors" \
  && ok "with dropout 0.1, the killed and restarted run ends bitwise equal to the uninterrupted one (per-rank random streams restored)" \
  || bad "restart with dropout differs from the uninterrupted run"
python3 - "$steps" <<'PY' && ok "the step never went back: logged steps resumed from the checkpoint" || bad "steps went back"
import sys
s = list(map(int, sys.argv[1].split()))
print("    logged steps:", " ".join(map(str, s)))
# The restarted group continues from its checkpoint (a checkpoint every step): the log never goes
# back; a step logged just before the kill but not yet checkpointed may be logged once more.
assert s[0] == 1 and s[-1] == 40, s
assert all(b >= a for a, b in zip(s, s[1:])), s
PY

# A hung rank (SIGSTOP: alive, silent): the other names it within --dist-timeout, torchrun stops
# the group and restarts it, and the run resumes and finishes.
( for _ in $(seq 300); do
    if [ -f "$W/hang/metrics.jsonl" ] && [ "$(grep -c '"step"' "$W/hang/metrics.jsonl")" -ge 5 ]; then
      pkill -STOP -n -f -- "--out $W/hang" && date +%s >"$W/hang.t0" && exit 0
    fi
    sleep 0.1
  done ) &
stopper=$!
trun --max-restarts 1 "$MABERT" "${slow[@]}" --steps 20 --dist-timeout 10 --out "$W/hang" >/dev/null 2>"$W/hang.err"; rc=$?
t1=$(date +%s)
wait $stopper 2>/dev/null
if [ $rc = 0 ] && grep -q "failed — a peer process exited, hung or is unreachable" "$W/hang.err" && grep -q "resumed from" "$W/hang.err" \
   && "$MABERT" runs check "$W/hang" --json | python3 -c "import json,sys; assert json.load(sys.stdin)['step']==20"; then
  ok "a hung rank (SIGSTOP): named by its peer ($(grep -o 'rank [01]: [a-z-]* failed' "$W/hang.err" | head -1)), the group restarted, $(grep -o 'resumed from .*' "$W/hang.err" | sed 's#.*/##'), finished at step 20; $((t1 - $(cat "$W/hang.t0"))) s from the stop to the end"
else
  bad "hung rank (rc $rc)"; tail -20 "$W/hang.err"
fi

# Without torchrun's agent: rank 0 serves the store; rank 1 is killed; rank 0 names the loss.
p=$(port)
env WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$p "$MABERT" "${slow[@]}" --steps 400 --out "$W/lost" --dist-timeout 20 >/dev/null 2>"$W/lost0.err" &
r0=$!
env WORLD_SIZE=2 RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=$p "$MABERT" "${slow[@]}" --steps 400 --out "$W/lost" --dist-timeout 20 >/dev/null 2>"$W/lost1.err" &
r1=$!
for _ in $(seq 300); do [ -f "$W/lost/metrics.jsonl" ] && grep -q '"step":3,' "$W/lost/metrics.jsonl" && break; sleep 0.1; done
t0=$(date +%s); kill -KILL $r1; wait $r0; rc=$?; t1=$(date +%s)
if [ $rc != 0 ] && grep -q "rank 0: .*a peer process exited, hung or is unreachable" "$W/lost0.err"; then
  ok "a lost peer: rank 0 exits $rc after $((t1 - t0)) s naming it ($(grep -o 'rank 0: [^(]*' "$W/lost0.err" | head -1))"
else
  bad "lost peer not reported (rc $rc)"; tail -5 "$W/lost0.err"
fi

# --- bad launches ----------------------------------------------------------------------------------
trun "$MABERT" "${base[@]}" --steps 20 --batch 7 --out "$W/odd" >/dev/null 2>"$W/odd.err"; rc=$?
# Each rank checks the batch before any collective; once the first has exited, torchrun's agent
# may stop the other before it prints (seen under load), so one message is what is certain.
[ $rc != 0 ] && [ "$(grep -c 'must divide by the 2 ranks' "$W/odd.err")" -ge 1 ] && ok "--batch 7 on 2 ranks: refused, naming the rank count" \
  || { bad "indivisible batch (rc $rc)"; tail -5 "$W/odd.err"; }
# Without --tokenizer rank 0 trains one on the corpus (4 s here, minutes on a real corpus) while the
# other waits on the store, not in a collective: a --dist-timeout shorter than that is no failure.
if [ -f "$SHARED/corpus/gutenberg-nltk/melville-moby_dick.txt" ]; then
  t0=$(date +%s)
  trun "$MABERT" pretrain --corpus "$SHARED/corpus/gutenberg-nltk/melville-moby_dick.txt" --vocab 2000 --config "$W/cfg.json" \
    --max-len 32 --max-sentences 200 --steps 2 --batch 8 --dist-timeout 2 --out "$W/tokwait" >/dev/null 2>"$W/tokwait.err"; rc=$?
  t1=$(date +%s)
  [ $rc = 0 ] && [ -f "$W/tokwait/tokenizer.model" ] \
    && ok "rank 0 trained the tokenizer ($((t1 - t0)) s in all) while rank 1 waited past --dist-timeout 2 s" \
    || { bad "tokenizer training beyond --dist-timeout (rc $rc)"; tail -5 "$W/tokwait.err"; }
fi
# Gloo's network by the cluster convention: GLOO_SOCKET_IFNAME names the interface; a wrong one is refused, named.
GLOO_SOCKET_IFNAME=lo trun "$MABERT" "${base[@]}" --steps 4 --batch 8 --out "$W/ifname" >/dev/null 2>"$W/ifname.err" \
  && ok "GLOO_SOCKET_IFNAME=lo: 2 ranks train" || { bad "GLOO_SOCKET_IFNAME=lo"; tail -5 "$W/ifname.err"; }
GLOO_SOCKET_IFNAME=nosuch0 trun "$MABERT" "${base[@]}" --steps 4 --batch 8 --out "$W/ifbad" >/dev/null 2>"$W/ifbad.err"; rc=$?
[ $rc != 0 ] && grep -q "GLOO_SOCKET_IFNAME='nosuch0': no network interface 'nosuch0'" "$W/ifbad.err" \
  && ok "a wrong GLOO_SOCKET_IFNAME: refused, naming it" || { bad "wrong GLOO_SOCKET_IFNAME (rc $rc)"; tail -5 "$W/ifbad.err"; }
env WORLD_SIZE=2 RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=$(port) "$MABERT" "${pre[@]}" --out "$W/nostore" --dist-timeout 3 \
  >/dev/null 2>"$W/nostore.err"; rc=$?
[ $rc != 0 ] && grep -q "cannot reach the rendezvous store" "$W/nostore.err" && ok "unreachable store: $(grep -o 'cannot reach[^(]*' "$W/nostore.err")" \
  || { bad "unreachable store (rc $rc)"; tail -5 "$W/nostore.err"; }
p=$(port)
env WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$p "$MABERT" "${pre[@]}" --out "$W/mix" --dist-timeout 20 >/dev/null 2>"$W/mix0.err" &
m0=$!
env WORLD_SIZE=2 RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=$p "$MABERT" "${base[@]}" --steps 20 --batch 8 --lr 1e-3 --out "$W/mix" --dist-timeout 20 >/dev/null 2>"$W/mix1.err"; rc1=$?
wait $m0; rc0=$?
[ $rc0 != 0 ] && [ $rc1 != 0 ] && grep -q "different job" "$W/mix0.err" && grep -q "different job" "$W/mix1.err" \
  && ok "ranks given different jobs: both refuse ($(grep -o 'rank 1 was given[^:]*' "$W/mix0.err"))" \
  || { bad "mismatched configs (rc $rc0 $rc1)"; tail -n 3 "$W/mix0.err" "$W/mix1.err"; }

exit $fail
