#!/usr/bin/env bash
# Peak resident memory of a pretraining process against the corpus size (issue 31): the shared
# corpus copied to about 100 MB and about 2 GB (generated here, never committed), each prepared
# into token shards and pretrained on for a few steps from them; the text path (every sentence
# tokenized and held in memory) beside it at 100 MB, for scale. Peak RSS from GNU time. Writes
# a Markdown table (OUT, default docs/results/shards-rss.md) atomically.
#
#   scripts/shards_rss.sh                      # ~2.1 GB of scratch in WORK (default /tmp/mabert-rss)
#   SIZES_MB="100 2000" STEPS=30 scripts/shards_rss.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" shards-rss
defaults MABERT="$ROOT/build/app/mabert" WORK=/tmp/mabert-rss OUT="$ROOT/docs/results/shards-rss.md" SIZES_MB="100 2000" \
  STEPS=30 SHARED="$ROOT/../shared/data/corpus" PRESET=tiny BATCH=32 MAX_LEN=128 THREADS=2
need_exec "$MABERT" "build it: cmake --build build --target mabert"
[ -x /usr/bin/time ] || { echo "$0: GNU time (/usr/bin/time) is needed: apt-get install time" >&2; exit 1; }
mkdir -p "$WORK"
trap 'rm -f "$OUT.tmp"' EXIT

peak_rss_mb() {  # LOG (GNU time -v output)
  awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$1"
}

log "tokenizer (4000 pieces) on the shared corpus"
[ -f "$WORK/tok.model" ] || "$MABERT" tokenizer train --input "$SHARED" --out "$WORK/tok" --vocab 4000 >/dev/null 2>&1
rows=()
for mb in $SIZES_MB; do
  corpus="$WORK/corpus-$mb"
  if [ ! -f "$corpus.done" ]; then
    log "making a ${mb} MB corpus"
    make_corpus "$SHARED" "$mb" "$corpus" && touch "$corpus.done"
  fi
  bytes=$(du -sb "$corpus" | cut -f1)
  log "data prepare: $corpus ($((bytes / 1000000)) MB)"
  /usr/bin/time -v "$MABERT" data prepare --corpus "$corpus" --tokenizer "$WORK/tok.model" --out "$WORK/shards-$mb" \
    --threads "$THREADS" --json --quiet >"$WORK/prepare-$mb.json" 2>"$WORK/prepare-$mb.time"
  prep_rss=$(peak_rss_mb "$WORK/prepare-$mb.time")
  prep_rate=$(python3 -c "import json; r = json.load(open('$WORK/prepare-$mb.json')); print(f\"{r['mb_per_s']:.1f} MB/s, {r['tokens']:,} tokens, {r['reused']} of {r['shards']} shards kept from before\")")
  for packed in "" "--packed"; do
    rm -rf "$WORK/run-$mb$packed"
    /usr/bin/time -v "$MABERT" pretrain --shards "$WORK/shards-$mb" $packed --preset "$PRESET" --steps "$STEPS" --batch "$BATCH" \
      --max-len "$MAX_LEN" --threads "$THREADS" --out "$WORK/run-$mb$packed" --quiet >/dev/null 2>"$WORK/run-$mb$packed.time"
    rows+=("| $((bytes / 1000000)) MB | token shards${packed:+, packed} | $(peak_rss_mb "$WORK/run-$mb$packed.time") | prepare: $prep_rate; peak RSS of prepare $prep_rss MB |")
  done
done
first=$(echo "$SIZES_MB" | awk '{print $1}')
log "the text path at $first MB, for scale"
rm -rf "$WORK/run-text"
/usr/bin/time -v "$MABERT" pretrain --corpus "$WORK/corpus-$first" --tokenizer "$WORK/tok.model" --preset "$PRESET" --steps "$STEPS" \
  --batch "$BATCH" --max-len "$MAX_LEN" --threads "$THREADS" --out "$WORK/run-text" --quiet >/dev/null 2>"$WORK/run-text.time"
rows+=("| $(( $(du -sb "$WORK/corpus-$first" | cut -f1) / 1000000 )) MB | text path (tokenized in memory) | $(peak_rss_mb "$WORK/run-text.time") | |")

{
  echo "# Peak memory of pretraining against corpus size"
  echo
  echo "\`scripts/shards_rss.sh\` at commit $(git -C "$ROOT" rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
  echo "($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)). The shared corpus (docs/data-sources.md) copied to each size,"
  echo "prepared with \`mabert data prepare --threads $THREADS\`, then \`mabert pretrain --shards … --preset $PRESET --steps $STEPS"
  echo "--batch $BATCH --max-len $MAX_LEN --threads $THREADS\` (natural sentences, and --packed blocks); peak resident set"
  echo "size from GNU time. Throughput figures are for scale only when the machine was shared (see the note)."
  echo
  echo "| corpus | reading | peak RSS (MB) | notes |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "wrote $OUT"
cat "$OUT"
