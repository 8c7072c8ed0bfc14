#!/usr/bin/env bash
# End to end through the CLI, as a user runs it: tokenizer → short pretraining → fine-tuning on
# a CoLA subset → eval with predictions → predict → runs list; then a run killed with SIGKILL
# at random moments (checkpoints being written every step) must always resume.
set -u
MABERT="$1"; SHARED="$2"; DEMO="$3"
. "$(dirname "$0")/lib.sh"
json() { python3 -c "import json,sys; d=json.load(open('$W/out')); $1"; }

run "$MABERT" tokenizer train --input "$DEMO" --out "$W/tok" --vocab 800 && ok "tokenizer train" || bad "tokenizer train"
run "$MABERT" tokenize --model "$W/tok.model" --text "It was a truth." --pair "He said so." --json \
  && json "assert d['ids'][0]==2 and d['ids'].count(3)==2 and d['segments'][-1]==1" && ok "tokenize pair" || bad "tokenize pair"
spm_encode --model="$W/tok.model" --output_format=id <<<"It was a truth." >"$W/spm" 2>/dev/null
run "$MABERT" tokenize --model "$W/tok.model" --text "It was a truth." --json \
  && [ "$(python3 -c "import json; print(' '.join(map(str, json.load(open('$W/out'))['ids'][1:-1])))")" = "$(cat "$W/spm")" ] \
  && ok "same ids as spm_encode" || bad "ids differ from spm_encode"

run "$MABERT" pretrain --corpus "$DEMO" --tokenizer "$W/tok.model" --preset tiny --schedule MTM --steps 30 --batch 8 \
  --max-len 48 --max-sentences 400 --out "$W/pre" --json && json "assert d['status']=='finished' and d['steps']==30" \
  && ok "pretrain" || bad "pretrain"
# The registry row records the model as the run folder's config.json holds it (vocabulary from the
# tokenizer, no head), not the preset the command line named.
run "$MABERT" runs show "$W/pre" --json && python3 - "$W" <<'PY' && ok "registry row model = config.json" || bad "registry row model differs from config.json"
import json, sys
w = sys.argv[1]
row = json.load(open(f"{w}/out"))
assert row["config"]["model"] == json.load(open(f"{w}/pre/config.json")), "model differs"
assert row["config"]["model"]["vocab_size"] != 8000 and row["world_size"] == 1 and row["backend"] == "none"
PY

if [ -d "$SHARED/glue/CoLA" ]; then
  run "$MABERT" finetune --task CoLA --data "$SHARED/glue/CoLA" --from "$W/pre" --steps 30 --batch 16 --max-train 400 \
    --max-len 48 --out "$W/ft" --json && json "assert d['status']=='finished' and 'mcc' in d['final_metrics']" \
    && ok "finetune CoLA" || bad "finetune CoLA"
  # Left padding, PSM off (pads then reach valid tokens): recorded in run.json and used again by
  # `mabert eval`, whose dev score equals the run's final one.
  "$MABERT" info --preset tiny --schedule MTM --json | python3 -c "
import json, sys; c = json.load(sys.stdin)['config']
c.update(psm_pre=False, psm_post=False, psm_state=False, pooling='mean', vocab_size=800)
json.dump(c, open('$W/nopsm.json', 'w'))"
  run "$MABERT" finetune --task CoLA --data "$SHARED/glue/CoLA" --tokenizer "$W/tok.model" --config "$W/nopsm.json" --steps 20 \
    --batch 16 --max-train 200 --max-len 48 --lr 3e-3 --padding left --out "$W/ft-left" --json && cp "$W/out" "$W/ft-left.json" \
    && run "$MABERT" eval --run "$W/ft-left" --max-len 48 --json && python3 - "$W" <<'PY' && ok "left padding: recorded, eval reproduces" || bad "left padding"
import json, sys
w = sys.argv[1]
final = json.load(open(f"{w}/ft-left.json"))["final_metrics"]
again = json.load(open(f"{w}/out"))["metrics"]
assert json.load(open(f"{w}/ft-left/run.json"))["train"]["padding"] == "left"
assert all(abs(final[k] - again[k]) < 1e-12 for k in again), (final, again)
PY
  run "$MABERT" eval --run "$W/ft" --split dev --predictions "$W/preds.tsv" --json \
    && json "assert d['examples']==1043 and -1<=d['metrics']['mcc']<=1" && [ "$(wc -l <"$W/preds.tsv")" = 1044 ] \
    && ok "eval + predictions" || bad "eval + predictions"
  run "$MABERT" predict --run "$W/ft" --text "The cat sat on the mat." --json \
    && json "assert d['label'] in ('0','1') and abs(sum(d['probabilities'])-1)<1e-5 and abs(sum(d['map_weights'])-1)<1e-4" \
    && ok "predict" || bad "predict"
  # A tokenizer that does not match the checkpoint's vocabulary: named, not a crash.
  cp -r "$W/ft" "$W/ft-vocab" && "$MABERT" tokenizer train --input "$DEMO" --out "$W/tok600" --vocab 600 >/dev/null 2>&1 \
    && cp "$W/tok600.model" "$W/ft-vocab/tokenizer.model"
  "$MABERT" predict --run "$W/ft-vocab" --text "The cat sat." >/dev/null 2>"$W/err" && bad "vocabulary mismatch accepted" \
    || { grep -q "pieces but the model's vocabulary is" "$W/err" && ok "vocabulary mismatch: $(cut -c1-140 "$W/err")" \
         || bad "vocabulary mismatch message: $(cat "$W/err")"; }
  "$MABERT" finetune --task CoLA --data /nonexistent/CoLA --from "$W/pre" --steps 1 --out "$W/x" 2>"$W/err" \
    && bad "missing data accepted" || { grep -q "/nonexistent/CoLA/train.tsv" "$W/err" && ok "missing data named" || bad "missing data message: $(cat "$W/err")"; }
else
  echo "skip GLUE parts: $SHARED/glue not found"
fi
run "$MABERT" runs list --json && json "assert len(d)>=2 and all(r['status'] in ('finished','failed') for r in d)" \
  && ok "runs list" || bad "runs list"

# Kill test: SIGKILL at random moments (start-up, training steps, checkpoint writes: a checkpoint
# is written every step) many times over; after every kill `mabert runs check` must find the
# latest checkpoint loadable in full, the metrics log parseable (a torn last line reported) and
# the registry readable, and the next resume must start cleanly. KILLS (default 20) sets how many.
KILLS="${KILLS:-20}"
kill_cmd=("$MABERT" pretrain --corpus "$DEMO" --tokenizer "$W/tok.model" --preset tiny --schedule MM --steps 2000 --batch 4
          --max-len 32 --max-sentences 200 --save-every 1 --out "$W/kill" --quiet)
"${kill_cmd[@]}" 2>/dev/null &
pid=$!; sleep 4; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
survived=0; in_write=0; torn=0; last_step=0; regress=0
for i in $(seq 1 "$KILLS"); do
  "${kill_cmd[@]}" --resume 2>"$W/kill.err" &
  pid=$!; sleep "$(python3 -c "import random; print(round(random.uniform(0.3, 3.5), 2))")"; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  if grep -q "error" "$W/kill.err"; then bad "resume after kill $i: $(cat "$W/kill.err")"; continue; fi
  if "$MABERT" runs check "$W/kill" --json >"$W/check.json" 2>"$W/check.err"; then
    read -r step left skipped < <(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['step'], len(d['leftovers']), len(d['torn_lines']))" "$W/check.json")
    [ "$step" -lt "$last_step" ] && regress=1
    [ "$step" -gt 0 ] && survived=$((survived+1))
    last_step=$step; [ "$left" -gt 0 ] && in_write=$((in_write+1)); [ "$skipped" -gt 0 ] && torn=$((torn+1))
  else
    bad "runs check after kill $i: $(cat "$W/check.err")"
  fi
done
[ "$survived" -eq "$KILLS" ] && [ "$regress" -eq 0 ] \
  && ok "$survived/$KILLS kills survived: latest checkpoint loaded after each (now step $last_step, never went back); $in_write kills left a half-written checkpoint or file behind, $torn a torn metrics line" \
  || bad "kill test: $survived/$KILLS checks passed, step went back: $regress"
run "$MABERT" pretrain --corpus "$DEMO" --tokenizer "$W/tok.model" --preset tiny --schedule MM --steps 2000 --batch 4 \
  --max-len 32 --max-sentences 200 --out "$W/kill" --resume --json \
  && json "assert d['status']=='finished' and d['steps']==2000" && ok "resumed to the end after the kills" || bad "final resume"

# One job per run folder: a second job into a folder a running job holds is refused, naming the
# holder, and writes nothing there; once the holder has ended, the folder is free again.
busy=("$MABERT" pretrain --corpus "$DEMO" --tokenizer "$W/tok.model" --preset tiny --schedule MM --batch 4 --max-len 32
      --max-sentences 200 --out "$W/busy" --quiet)
"${busy[@]}" --steps 100000 >/dev/null 2>"$W/busy.err" &
holder=$!
for _ in $(seq 300); do [ -s "$W/busy/metrics.jsonl" ] && break; sleep 0.1; done
lines_before=$(wc -l <"$W/busy/metrics.jsonl")
"${busy[@]}" --steps 10 --resume >"$W/out" 2>"$W/err"; rc=$?
kill -INT $holder; wait $holder
[ $rc -ne 0 ] && grep -q "$W/busy: this run folder is in use by another job (process $holder)" "$W/err" \
  && ok "a second job into a busy run folder: exit $rc, \"$(grep -m1 -o "$W/busy: this.*" "$W/err" | sed "s#$W/##")\"" \
  || bad "busy run folder (rc $rc): $(tail -3 "$W/err")"
"${busy[@]}" --steps 3 --resume >"$W/out" 2>"$W/err" \
  && ok "after the holder stopped ($lines_before metrics lines then), the folder takes the next job" \
  || bad "folder still locked after its job ended: $(tail -3 "$W/err")"

# Disk full and read-only run folders: the run must stop with an error naming what it could not
# write, exit non-zero, and keep its last good checkpoint (runs check: same step, loads in full).
ckpt_step() { "$MABERT" runs check "$W/kill" --json >"$W/check.json" 2>"$W/check.err" \
                && python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['step'])" "$W/check.json"; }
more_cmd=("$MABERT" pretrain --corpus "$DEMO" --tokenizer "$W/tok.model" --preset tiny --schedule MM --steps 2010 --batch 4
          --max-len 32 --max-sentences 200 --save-every 1 --out "$W/kill" --resume --quiet)
before=$(ckpt_step)
weights_kb=$(du -k "$(ls -d "$W"/kill/checkpoints/ckpt-* | tail -1)/model.safetensors" | cut -f1)
# A file-size limit below one checkpoint, with SIGXFSZ ignored: writes fail with EFBIG, as on a full disk.
( trap '' XFSZ; ulimit -f $((weights_kb / 2)); exec "${more_cmd[@]}" ) >"$W/out" 2>"$W/err"; rc=$?
after=$(ckpt_step)
[ "$rc" -ne 0 ] && grep -q "$W/kill/" "$W/err" && grep -qi "too large\|no space" "$W/err" && [ -n "$after" ] && [ "$after" = "$before" ] \
  && ok "disk full: exit $rc, \"$(grep -m1 -o "error.*" "$W/err" | cut -c1-150)\"; checkpoint of step $after kept" \
  || bad "disk full: exit $rc, step $before -> ${after:-unreadable}: $(tail -3 "$W/err")"

# Read-only: root ignores permissions, so as root (CI) the command runs as nobody.
chmod a+rx "$W"; chmod -R a+rX "$W/kill" "$W/tok.model"; chmod -R a-w "$W/kill"
as_user=(); [ "$(id -u)" = 0 ] && as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
mkdir -p "$W/ro-registry"; chmod 777 "$W/ro-registry"
MABERT_REGISTRY="$W/ro-registry/runs.db" "${as_user[@]}" "${more_cmd[@]}" >"$W/out" 2>"$W/err"; rc=$?
chmod -R u+w "$W/kill"
after=$(ckpt_step)
[ "$rc" -ne 0 ] && grep -q "$W/kill" "$W/err" && grep -qi "permission denied\|read-only" "$W/err" && [ "$after" = "$before" ] \
  && ok "read-only run folder: exit $rc, \"$(grep -m1 -o "error.*" "$W/err" | cut -c1-150)\"; checkpoint of step $after kept" \
  || bad "read-only run folder: exit $rc, step $before -> ${after:-unreadable}: $(tail -3 "$W/err")"
exit $fail
