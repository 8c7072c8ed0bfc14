#!/usr/bin/env bash
# Hugging Face export, end to end as a Python user meets it: short runs whose schedules cover
# T M B P, each pooling (map attn cls mean masked_mean) and head (MLM, classification,
# regression), ALBERT's sharing and factorised embeddings, no positions, token shift, PSM off; each exported
# with `mabert export --format hf` and loaded offline with transformers (trust_remote_code).
# Parity: every output of `mabert encode` (hidden states of every layer, pooled vector, pool
# weights, logits) on the same left- and right-padded batches within 1e-5 of max(1, |value|); tokenizer ids on the
# SST-2 dev sentences and MRPC dev pairs; dev predictions equal `mabert eval`. Bad input: a folder
# that is not a run, an incomplete run, baseline letters, an existing output without --force.
set -u
MABERT="$1"; SHARED="$2"; DEMO="$3"; PY="$4"; PARITY="$5"
. "$(dirname "$0")/lib.sh"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TRANSFORMERS_VERBOSITY=error HF_HOME="$W/hf"
export PYTHONWARNINGS=ignore TQDM_DISABLE=1
# The parity checks are queued (parity LABEL check-args...) and run at the end in one Python
# process (importing torch and transformers costs 10-25 s a start): each prints "ok/FAIL LABEL".
: >"$W/parity.jobs"
parity() { local label="$1"; shift; printf '%s\t%s\n' "$label" "$(printf '%q ' "$@")" >>"$W/parity.jobs"; }
run_parity() {
  "$PY" "$PARITY" batch "$W/parity.jobs" >"$W/parity.log" 2>"$W/perr"
  while IFS= read -r line; do
    case "$line" in
      "ok "*) ok "${line#ok }" ;;
      "FAIL "*) bad "${line#FAIL }" ;;
      *) echo "     $line" ;;
    esac
  done <"$W/parity.log"
  # Every queued check reported (a Python crash part-way leaves the rest unreported).
  local label
  while IFS=$'\t' read -r label _; do
    grep -q -F -x -e "ok $label" -e "FAIL $label" <(sed 's/: .*//' "$W/parity.log") ||
      bad "parity check not reported: $label ($(tail -5 "$W/perr"))"
  done <"$W/parity.jobs"
}

if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "skip: no torch in $PY (a Torch_DIR build: pip install torch there to run the parity checks)"; exit 77
fi
if ! "$PY" -c "import transformers, sentencepiece" 2>/dev/null; then
  echo "FAIL transformers/sentencepiece missing from $PY (scripts/setup.sh installs them)"; exit 1
fi
GLUE="$SHARED/glue"
if [ ! -d "$GLUE/SST-2" ]; then echo "skip: $GLUE not found"; exit 0; fi

run "$MABERT" tokenizer train --input "$DEMO" --out "$W/tok" --vocab 800 || bad "tokenizer train"
"$MABERT" info --preset tiny --json >"$W/tiny.json"
# config NAME key=value...: the tiny preset with these fields changed (JSON values).
config() {
  local name="$1"; shift
  "$PY" - "$W/tiny.json" "$W/$name.json" "$@" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["config"]
c["vocab_size"] = 800
for kv in sys.argv[3:]:
    k, v = kv.split("=", 1)
    c[k] = json.loads(v)
json.dump(c, open(sys.argv[2], "w"))
PY
}
TRAIN=(--steps 20 --batch 16 --max-train 400 --max-len 48 --lr 3e-3 --quiet --json)
run "$MABERT" pretrain --corpus "$DEMO" --tokenizer "$W/tok.model" --preset tiny --schedule TMBP --steps 20 --batch 8 \
  --max-len 48 --max-sentences 400 --lr 3e-3 --out "$W/pre" --quiet || bad "pretrain"
config c1 schedule='"MBPT"' pooling='"map"'
config c2 schedule='"BPTM"' pooling='"attn"' embed_dim=64
config c3 schedule='"MMBT"' pooling='"cls"' share_layers=true psm_post=false conv='"centred"'
config c4 schedule='"PBMT"' pooling='"mean"' position='"none"' type_vocab_size=0 token_shift=true
config c5 schedule='"TBMP"' pooling='"masked_mean"' psm_pre=false psm_post=false psm_state=false
ft() { run "$MABERT" finetune --task "$1" --data "$GLUE/$1" --tokenizer "$W/tok.model" --config "$W/$2.json" --out "$W/$3" "${TRAIN[@]}"; }
ft SST-2 c1 ft1 && ft STS-B c2 ft2 && ft RTE c3 ft3 && ft MRPC c4 ft4 && ft CoLA c5 ft5 && ok "6 short runs" || bad "training the runs"

# Sentences: SST-2 dev (single), MRPC dev (pairs); the model checks use the first 64 of each.
tail -n +2 "$GLUE/SST-2/dev.tsv" | cut -f1 >"$W/sst.txt"
tail -n +2 "$GLUE/MRPC/dev.tsv" | awk -F'\t' '{print $4 "\t" $5}' >"$W/mrpc.txt"
head -64 "$W/sst.txt" >"$W/sst64.txt"; head -64 "$W/mrpc.txt" >"$W/mrpc64.txt"

check() {  # check RUN LABEL [--pairs] [encode flags]: export, encode both paddings, compare
  local r="$1" label="$2"; shift 2
  local input="$W/sst64.txt"; [ "${1:-}" = --pairs ] && input="$W/mrpc64.txt"
  run "$MABERT" export --run "$W/$r" --format hf --out "$W/hf-$r" || { bad "export $r"; return; }
  run "$MABERT" encode --run "$W/$r" --input "$input" "$@" --layers --out "$W/$r-right.safetensors" --padding right &&
  run "$MABERT" encode --run "$W/$r" --input "$input" "$@" --layers --out "$W/$r-left.safetensors" --padding left ||
    { bad "encode $r"; return; }
  parity "parity $label" model "$W/hf-$r" "$W/$r-right.safetensors" "$W/$r-left.safetensors" --label "$label"
}
check pre "TMBP map MLM" --mlm-logits
check ft1 "MBPT map classification"
check ft2 "BPTM attn regression factorised" --pairs
check ft3 "MMBT cls shared psm_post=off centred-conv" --pairs
check ft4 "PBMT mean no-positions no-segments token-shift" --pairs
check ft5 "TBMP masked_mean PSM off"

# The tokenizer: every SST-2 dev sentence (both sides) and MRPC dev pair (truncated to 48 tokens).
run "$MABERT" encode --run "$W/ft1" --input "$W/sst.txt" --out "$W/sst-right.safetensors" &&
  parity "tokenizer SST-2 right" tokens "$W/hf-ft1" "$W/sst-right.safetensors" "$W/sst.txt" || bad "encode SST-2 right"
run "$MABERT" encode --run "$W/ft1" --input "$W/sst.txt" --padding left --out "$W/sst-left.safetensors" &&
  parity "tokenizer SST-2 left" tokens "$W/hf-ft1" "$W/sst-left.safetensors" "$W/sst.txt" --padding left || bad "encode SST-2 left"
run "$MABERT" encode --run "$W/ft1" --input "$W/mrpc.txt" --pairs --max-len 48 --out "$W/mrpc-trunc.safetensors" &&
  parity "tokenizer MRPC pairs, truncated" tokens "$W/hf-ft1" "$W/mrpc-trunc.safetensors" "$W/mrpc.txt" --pairs || bad "encode MRPC pairs"

# Dev predictions of the exported classifiers equal `mabert eval` (--max-len as the runs were evaluated).
run "$MABERT" eval --run "$W/ft1" --predictions "$W/ft1.tsv" --max-len 48 &&
  parity "SST-2 dev predictions" predictions "$W/hf-ft1" "$GLUE/SST-2/dev.tsv" "$W/ft1.tsv" --max-len 48 || bad "eval SST-2"
run "$MABERT" eval --run "$W/ft3" --predictions "$W/ft3.tsv" --max-len 48 &&
  parity "RTE dev predictions" predictions "$W/hf-ft3" "$GLUE/RTE/dev.tsv" "$W/ft3.tsv" --columns sentence1,sentence2 \
    --labels entailment,not_entailment --max-len 48 || bad "eval RTE"
run_parity

# Bad input: named, non-zero, nothing written.
expect_error() {  # expect_error PATTERN LABEL command...
  local pattern="$1" label="$2"; shift 2
  if "$@" >/dev/null 2>"$W/err"; then bad "$label accepted"; return; fi
  grep -q -- "$pattern" "$W/err" && ok "$label: $(head -c 150 "$W/err")" || bad "$label message: $(cat "$W/err")"
}
expect_error "not a run folder (no run.json" "not a run" "$MABERT" export --run "$W/hf-ft1" --out "$W/x1"
cp -r "$W/ft1" "$W/ft1-broken" && rm "$W/ft1-broken/tokenizer.model"
expect_error "tokenizer.model is missing" "incomplete run" "$MABERT" export --run "$W/ft1-broken" --out "$W/x2"
rm -rf "$W/ft1-broken/checkpoints" "$W/ft1-broken/best" && cp "$W/tok.model" "$W/ft1-broken/tokenizer.model"
expect_error "no checkpoint" "run without a checkpoint" "$MABERT" export --run "$W/ft1-broken" --out "$W/x3"
cp -r "$W/ft1" "$W/ft1-lsd" && sed -i 's/"schedule": *"MBPT"/"schedule": "MBLT"/' "$W/ft1-lsd/config.json"
expect_error "layer letters L" "baseline letters refused" "$MABERT" export --run "$W/ft1-lsd" --out "$W/x4"
expect_error "exists and is not empty (--force" "existing output kept" "$MABERT" export --run "$W/ft1" --out "$W/hf-ft1"
[ -f "$W/hf-ft1/modeling_mabert.py" ] && [ ! -e "$W/x1" ] && [ ! -e "$W/x2" ] && [ ! -e "$W/x4" ] \
  && ok "nothing written on errors; the existing export intact" || bad "files written on error"
run "$MABERT" export --run "$W/ft2" --out "$W/hf-ft1" --force --json && grep -q '"BPTM"' "$W/hf-ft1/config.json" \
  && ok "--force replaces" || bad "--force"
[ -z "$(ls "$W" | grep '\.tmp-')" ] && ok "no temporary folders left" || bad "temporary folders left: $(ls "$W" | grep '\.tmp-')"

exit $fail
