#!/usr/bin/env bash
# The trained models shipped in resources/models (resources/models/README.md): each loads from a
# copy outside the source tree (no ../shared), stays within the size budget, and its model card's
# numbers are its own (scores.json); `mabert eval` reproduces the fine-tuned models' dev scores on
# ../shared when present; the SST-2 model labels clear sentences written for this test (not from
# SST-2) correctly.
set -u
MABERT="$1"; MODELS="$2"; SHARED="$3"
. "$(dirname "$0")/lib.sh"
cp -r "$MODELS" "$W/models"
names=$(cd "$W/models" && ls -d */ | tr -d /)
[ -n "$names" ] || { echo "FAIL no models in $MODELS"; exit 1; }
for m in $names; do
  d="$W/models/$m"
  size=$(du -sb "$d" | cut -f1)
  [ "$size" -le 11000000 ] && ok "$m: $size bytes" || bad "$m: $size bytes (over the 10 MB budget)"
  [ -f "$d/best/model.safetensors" ] && [ ! -d "$d/checkpoints" ] || bad "$m: not a weights-only run folder"
  # The card states the run's own final metrics, to four decimals.
  python3 - "$d" "$MODELS/README.md" "$m" <<'PY' && ok "$m: card numbers" || bad "$m: card numbers"
import json, sys
d, card, name = sys.argv[1:]
metrics = json.load(open(f"{d}/scores.json"))["metrics"]
text = open(card).read()
section = text[text.index(f"## {name}\n"):]
section = section[:section.find("\n## ", 4)] if "\n## " in section[4:] else section
for k, v in metrics.items():
    if k.startswith("neg_"): continue
    assert f"{v:.4f}" in section, (name, k, f"{v:.4f}")
PY
done

# A shipped pretrained model keeps only best/ (no checkpoints): fine-tuning starts from it, as the
# model card's recipe does from its training run (a few steps on the card's own sentences' task).
if [ -d "$SHARED/glue/SST-2" ]; then
  "$MABERT" finetune --task SST-2 --data "$SHARED/glue/SST-2" --from "$W/models/mabert-tiny" --steps 3 --batch 4 \
    --max-len 32 --eval-every 0 --max-train 64 --threads 1 --out "$W/from-shipped" --json >"$W/out" 2>"$W/err" \
    && python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["status"] == "finished" and r["steps"] == 3, r' "$W/out" \
    && ok "finetune --from the shipped mabert-tiny (best/ only)" || bad "finetune --from shipped: $(tail -3 "$W/err")"
fi

# The SST-2 model on clear sentences: at least 11 of 12 right.
sst="$W/models/mabert-tiny-sst2"
right=0; total=0
while IFS=$'\t' read -r want text; do
  got=$("$MABERT" predict --run "$sst" --text "$text" --json 2>"$W/err" </dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["label"])') \
    || { bad "predict failed: $(cat "$W/err")"; continue; }
  total=$((total + 1)); [ "$got" = "$want" ] && right=$((right + 1))
  echo "     $got (want $want)  $text"
done <<'EOF2'
1	a wonderful , moving film with brilliant performances .
1	one of the best movies of the year .
1	a delightful and charming comedy that made me laugh .
1	beautifully shot and wonderfully acted .
1	an enjoyable , funny and touching story .
1	a great cast and a smart , entertaining script .
0	a dull , boring and pointless film .
0	the worst movie i have seen in years .
0	a stupid , tedious mess .
0	the acting is terrible and the plot makes no sense .
0	an ugly , lifeless and badly written movie .
0	painfully slow and utterly unfunny .
EOF2
[ "$total" = 12 ] && [ "$right" -ge 11 ] && ok "SST-2 model: $right of $total clear sentences" || bad "SST-2 model: $right of $total clear sentences"

# The pretrained encoder loads and encodes (sentence vectors for a padded batch).
printf 'the sea was calm that morning .\nshe opened the letter .\n' > "$W/s.txt"
"$MABERT" encode --run "$W/models/mabert-tiny" --input "$W/s.txt" --out "$W/s.safetensors" >"$W/out" 2>"$W/err" \
  && [ -s "$W/s.safetensors" ] && ok "encoder encodes" || bad "encode: $(cat "$W/err")"

# An unknown masking configuration is refused by name, before anything loads.
"$MABERT" eval --run "$W/models/mabert-tiny-sst2" --psm pre+state >"$W/out" 2>"$W/err" \
  && bad "eval --psm pre+state was accepted" \
  || { grep -q -- "--psm" "$W/err" && ok "eval --psm: unknown configuration named" || bad "eval --psm: $(cat "$W/err")"; }

# mabert eval reproduces each fine-tuned model's dev score (needs ../shared's GLUE).
if [ -d "$SHARED/glue" ]; then
  for m in $names; do
    d="$W/models/$m"
    task=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("task",""))' "$d/run.json")
    [ -n "$task" ] || continue
    "$MABERT" eval --run "$d" --data "$SHARED/glue/$task" --json >"$W/out" 2>"$W/err" || { bad "$m eval: $(cat "$W/err")"; continue; }
    python3 - "$W/out" "$d/scores.json" <<'PY' && ok "$m: eval reproduces the card ($task dev)" || bad "$m: eval differs from the card"
import json, sys
got = json.load(open(sys.argv[1]))["metrics"]
card = json.load(open(sys.argv[2]))["metrics"]
for k, v in got.items():
    print(f"     {k}: eval {v:.4f}, card {card[k]:.4f}")
    assert abs(v - card[k]) < 1e-6, (k, v, card[k])
PY
    # Served padded on the other side (the runs were trained right-padded): with full PSM the
    # scores are the card's (left padding is masked out exactly); with none they move.
    "$MABERT" eval --run "$d" --data "$SHARED/glue/$task" --padding left --psm pre+post+state --json >"$W/full" 2>"$W/err" \
      && "$MABERT" eval --run "$d" --data "$SHARED/glue/$task" --padding left --psm none --json >"$W/none" 2>>"$W/err" \
      && python3 - "$W/full" "$W/none" "$d/scores.json" <<'PY' && ok "$m: left-padded, full PSM keeps the card, none moves it" || bad "$m: left-padded serving $(cat "$W/err")"
import json, sys
full, none, card = (json.load(open(p)) for p in sys.argv[1:4])
assert (full["padding"], full["psm"], none["padding"], none["psm"]) == ("left", "pre+post+state", "left", "none"), (full, none)
for k, v in card["metrics"].items():
    print(f"     {k}: left+full {full['metrics'][k]:.4f}, left+none {none['metrics'][k]:.4f}, card {v:.4f}")
    assert abs(full["metrics"][k] - v) < 1e-6, k
assert any(abs(none["metrics"][k] - v) > 1e-3 for k, v in card["metrics"].items())
PY
  done
else
  echo "skip eval reproduction: no $SHARED/glue"
fi
exit $fail
