#!/usr/bin/env bash
# The fuzz campaign: every reader's libFuzzer target (tests/fuzz/) under AddressSanitizer +
# UndefinedBehaviorSanitizer, run to FUZZ_RUNS executions each (default one million) on a copy
# of its seed corpus, after the regression inputs; then a report with executions, wall time,
# rate, coverage before and after, features, corpus size and the outcome per target, written
# atomically to docs/results/fuzz-campaign.md (CAMPAIGN_OUT to change). A long job, not a CI
# step: CI fuzzes 20 s per target (scripts/hardening.sh); this is the depth the readers are
# claimed to have, and its latest result is committed.
#
#   scripts/fuzz_campaign.sh                       all targets, 10^6 executions each
#   FUZZ_RUNS=100000 FUZZ_TARGETS="config grid" scripts/fuzz_campaign.sh
#
# Exit status: non-zero when any target crashed, hung, leaked or broke its reader's contract;
# the report names the input (build-asan/fuzz-artifacts/) to copy into tests/fuzz/regressions/.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" fuzz-campaign
defaults FUZZ_RUNS=1000000
export FUZZ_RUNS
OUT="${CAMPAIGN_OUT:-$ROOT/docs/results/fuzz-campaign.md}"
REPORT="$(mktemp)"
trap 'rm -f "$REPORT" "$OUT.tmp"' EXIT
export FUZZ_REPORT="$REPORT"

start=$(date +%s)
rc=0
bash "$ROOT/scripts/hardening.sh" build regressions fuzz || rc=$?
wall=$(( $(date +%s) - start ))

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
dirty="$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' (with uncommitted changes)' || true)"
{
  echo "# Fuzz campaign: every reader to $FUZZ_RUNS executions"
  echo
  echo "\`scripts/fuzz_campaign.sh\` at commit $commit$dirty, $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores ($cpu),"
  echo "one fuzzing process at a time, ASan + UBSan + libFuzzer (clang, build-asan/), each target on a"
  echo "copy of its seed corpus (tests/fuzz/seeds/) after its regression inputs; whole campaign $wall s"
  echo "including the build. Coverage: libFuzzer's edge count after the seeds and at the end;"
  echo "features: its finer coverage signal; corpus: inputs kept."
  echo
  echo "| reader | executions | seconds | exec/s | coverage (seeds → end) | features | corpus | outcome |"
  echo "|---|---|---|---|---|---|---|---|"
  while IFS=$'\t' read -r t execs secs rate cov0 cov1 ft corp outcome; do
    echo "| $t | $execs | $secs | $rate | $cov0 → $cov1 | $ft | $corp | $outcome |"
  done < "$REPORT"
  echo
  if [ "$rc" -eq 0 ]; then
    echo "No crash, hang, leak, sanitizer report or broken reader contract in any target."
  else
    echo "**Findings** (scripts/hardening.sh exited $rc): see the outcome column; each input is in"
    echo "build-asan/fuzz-artifacts/ and goes to tests/fuzz/regressions/<reader>/ with its fix."
  fi
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "[fuzz-campaign] report: $OUT"
exit "$rc"
