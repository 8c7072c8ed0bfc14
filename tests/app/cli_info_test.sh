#!/usr/bin/env bash
# `mabert info` as a user runs it: the table and totals, JSON output, and clear errors.
set -u
MABERT="$1"
fail=0
check() {  # check <description> <expected exit: 0|nonzero> <regex> -- command...
  local what="$1" want="$2" re="$3"; shift 4
  local out rc
  out="$("$@" 2>&1)"; rc=$?
  if { [ "$want" = 0 ] && [ $rc -ne 0 ]; } || { [ "$want" != 0 ] && [ $rc -eq 0 ]; }; then
    echo "FAIL $what: exit $rc"; echo "$out" | head -20; fail=1; return
  fi
  if ! grep -Eq -- "$re" <<<"$out"; then
    echo "FAIL $what: output lacks /$re/"; echo "$out" | head -20; fail=1; return
  fi
  echo "ok   $what"
}
check "base table"        0       "11  T    Transformer" -- "$MABERT" info --preset base --schedule MMTMMTMMTMMT
check "base total"        0       "total .* \([0-9.]+ M\)" -- "$MABERT" info --preset base --schedule MMTMMTMMTMMT
check "json output"       0       '"total_params": [0-9]+' -- "$MABERT" info --preset tiny --json
check "bad schedule"      nonzero "unknown layer letter 'X' at position 3" -- "$MABERT" info --schedule MMXT
check "unknown preset"    nonzero "unknown preset 'huge'" -- "$MABERT" info --preset huge
check "missing config"    nonzero "nope.json: cannot open" -- "$MABERT" info --config /nonexistent/nope.json
check "help"              0       "--schedule" -- "$MABERT" info --help
exit $fail
