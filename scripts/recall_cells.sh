#!/usr/bin/env bash
# The recall grid runs over several sittings, and a sitting's machine may not keep runs/. Its
# finished cells (result.json, a few hundred bytes each; `mabert ablate` skips a cell that has one)
# are kept in the repository:
#
#   scripts/recall_cells.sh save [RUN_DIR [NAME]]      copy every finished cell's result.json from
#                                                      RUN_DIR (default runs/recall2) to
#                                                      docs/results/recall-cells/NAME/ (default grid)
#   scripts/recall_cells.sh restore [RUN_DIR [NAME]]   copy them back, so `mabert ablate --out RUN_DIR`
#                                                      resumes
#
# The MQAR grid keeps its cells under grid/, the needle grid (runs/needle) under needle/.
#
# Only result.json travels: a restored cell is read back, never retrained; its checkpoints stay
# where they were made.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ACTION="${1:-}"
RUN_DIR="${2:-$ROOT/runs/recall2}"
KEEP="$ROOT/docs/results/recall-cells/${3:-grid}"
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
done < <(find "$from" -name result.json -print0)
echo "$ACTION: $n cells ($from -> $to)"
