#!/usr/bin/env bash
# Grids run over several sittings, and a sitting's machine may not keep runs/. Their finished
# cells are kept in the repository: each cell's result.json (a few hundred bytes; `mabert ablate`
# skips a cell that has one) and, for grids with "serve", its prediction files (the data behind
# each serving comparison):
#
#   scripts/recall_cells.sh save [RUN_DIR [NAME]]      copy every finished cell's files from
#                                                      RUN_DIR (default runs/recall2) to
#                                                      docs/results/recall-cells/NAME/ (default grid)
#   scripts/recall_cells.sh restore [RUN_DIR [NAME]]   copy them back, so `mabert ablate --out RUN_DIR`
#                                                      resumes
#   KEEP=docs/results/psm-fair/psm-fair-left-sst2/cells scripts/recall_cells.sh save runs/psm-fair/left-sst2
#                                                      another keeping folder (the PSM grids' cells)
#
# The MQAR grid keeps its cells under grid/, the needle grid (runs/needle) under needle/.
#
# Only these files travel: a restored cell is read back, never retrained; its checkpoints stay
# where they were made.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ACTION="${1:-}"
RUN_DIR="${2:-$ROOT/runs/recall2}"
KEEP="${KEEP:-$ROOT/docs/results/recall-cells/${3:-grid}}"
case "$ACTION" in
  save) from="$RUN_DIR/cells"; to="$KEEP" ;;
  restore) from="$KEEP"; to="$RUN_DIR/cells" ;;
  *) echo "usage: $0 save|restore [RUN_DIR]" >&2; exit 2 ;;
esac
[ -d "$from" ] || { echo "$0: $from does not exist" >&2; exit 1; }
n=0
while IFS= read -r -d '' f; do
  rel="${f#"$from"/}"
  mkdir -p "$to/$(dirname "$rel")"
  cp "$f" "$to/$rel.tmp" && mv "$to/$rel.tmp" "$to/$rel"
  n=$((n + 1))
done < <(find "$from" \( -name result.json -o -name 'predictions-*.tsv' \) -print0)
echo "$ACTION: $n files ($from -> $to)"
