#!/usr/bin/env bash
# The GUI monkey's long campaign (tests/ui/studio_monkey.cpp): seeded runs of MONKEY_ACTIONS
# random actions each, seed after seed, until MONKEY_MINUTES have passed, in each build named by
# MONKEY_BUILDS — release (build/, what users run), tsan (build-tsan/, ThreadSanitizer, gcc) and
# asan (build-asan-gui/, AddressSanitizer + UndefinedBehaviorSanitizer, gcc) — offscreen. Then a
# report per build (seeds, actions, jobs started, dialogs answered, windows closed mid-job, the
# longest action and event-loop stall, findings, sanitizer reports) written atomically to
# docs/results/gui-monkey.md (MONKEY_OUT to change). Not a CI step: CI runs one short seed
# (ctest studio_monkey). A finding's log (build*/monkey/seed-N.log) replays it:
#   studio_monkey --replay build/monkey/seed-N.log
# and, copied to tests/ui/monkey/<what-it-is>.log, becomes a regression test.
#
#   scripts/gui_monkey.sh                                        30 minutes in each of the three builds
#   MONKEY_BUILDS=release MONKEY_MINUTES=5 scripts/gui_monkey.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" gui-monkey
MINUTES="${MONKEY_MINUTES:-30}"
ACTIONS="${MONKEY_ACTIONS:-300}"
FIRST_SEED="${MONKEY_FIRST_SEED:-1}"
read -r -a BUILDS <<< "${MONKEY_BUILDS:-release tsan asan}"
OUT="${MONKEY_OUT:-$ROOT/docs/results/gui-monkey.md}"
defaults JOBS="$(nproc)"

torch_args=()
if [ -n "${Torch_DIR:-}" ]; then torch_args+=(-DTorch_DIR="$Torch_DIR"); fi
build_dir() {
  case "$1" in
    release) echo "${BUILD_DIR:-$ROOT/build}" ;;
    tsan) echo "${TSAN_BUILD_DIR:-$ROOT/build-tsan}" ;;
    asan) echo "${ASAN_GUI_BUILD_DIR:-$ROOT/build-asan-gui}" ;;
    *) echo "unknown build '$1' (release, tsan, asan)" >&2; exit 2 ;;
  esac
}
configure() {
  local dir; dir="$(build_dir "$1")"
  [ -f "$dir/build.ninja" ] && return 0
  case "$1" in
    release) bash "$ROOT/scripts/setup.sh" build ;;
    tsan) cmake -S "$ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -g1" \
            -DMABERT_SANITIZE=thread -DMABERT_CUDA=OFF -DMABERT_GUI=ON "${torch_args[@]}" ;;
    asan) cmake -S "$ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -g1" \
            -DMABERT_SANITIZE=address -DMABERT_CUDA=OFF -DMABERT_GUI=ON "${torch_args[@]}" ;;
  esac
}
# What each build's runs are given: sanitizers slow everything 5-15x (MABERT_TIME_SCALE widens the
# monkey's freeze bound); reports are counted from the log, so every one is seen.
run_env() {
  case "$1" in
    release) echo "" ;;
    tsan) echo "TSAN_OPTIONS=suppressions=$ROOT/tests/tsan.supp:halt_on_error=0:exitcode=0:second_deadlock_stack=1:report_signal_unsafe=0 MABERT_TIME_SCALE=15" ;;
    asan) echo "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp:print_suppressions=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=0 MABERT_TIME_SCALE=10" ;;
  esac
}

ROWS=()
DETAILS=()
FAILED=0
for b in "${BUILDS[@]}"; do
  dir="$(build_dir "$b")"
  t0=$(date +%s)
  configure "$b"
  log "building studio_monkey in $dir (-j$JOBS)"
  cmake --build "$dir" -j"$JOBS" --target studio_monkey
  build_s=$(( $(date +%s) - t0 ))
  mkdir -p "$dir/monkey"
  seed=$FIRST_SEED
  seeds=0 actions=0 jobs=0 dialogs=0 closed=0 findings=0 reports=0 longest=0 stall=0 longest_what=""
  end=$(( $(date +%s) + MINUTES * 60 ))
  while [ "$(date +%s)" -lt "$end" ]; do
    logf="$dir/monkey/seed-$seed.out"
    log "$b: seed $seed ($ACTIONS actions)"
    rc=0
    # A seed that has not ended in 15 minutes hangs: killed, and counted as a finding (exit 124).
    timeout --kill-after=10 900 env $(run_env "$b") QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1 \
      "$dir/tests/studio_monkey" --seed "$seed" --actions "$ACTIONS" --log "$dir/monkey/seed-$seed.log" > "$logf" 2>&1 || rc=$?
    s=$(grep -E '^\[monkey\] seed' "$logf" || true)
    n=$(sed -n 's/.*: \([0-9]*\) actions in.*/\1/p' <<< "$s")
    actions=$(( actions + ${n:-0} ))
    jobs=$(( jobs + $(sed -n 's/.*, \([0-9]*\) jobs started.*/\1/p' <<< "$s" | grep . || echo 0) ))
    dialogs=$(( dialogs + $(sed -n 's/.*, \([0-9]*\) dialogs answered.*/\1/p' <<< "$s" | grep . || echo 0) ))
    closed=$(( closed + $(sed -n 's/.*, \([0-9]*\) windows closed.*/\1/p' <<< "$s" | grep . || echo 0) ))
    a=$(sed -n 's/^\[monkey\] longest action \([0-9]*\) ms (\(.*\)); longest event-loop stall \([0-9]*\) ms$/\1\t\2\t\3/p' "$logf")
    if [ -n "$a" ]; then
      IFS=$'\t' read -r ams awhat sms <<< "$a"
      if [ "$ams" -gt "$longest" ]; then longest=$ams; longest_what="$awhat (seed $seed)"; fi
      [ "$sms" -gt "$stall" ] && stall=$sms
    fi
    f=$(grep -c '^\[monkey\] FINDING' "$logf" || true)
    r=$(grep -cE '^(WARNING: ThreadSanitizer|==[0-9]+==ERROR: (Address|Leak)Sanitizer)|runtime error:' "$logf" || true)
    findings=$(( findings + f )); reports=$(( reports + r ))
    if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ] || [ "$r" -ne 0 ] || [ -z "$s" ]; then
      FAILED=1
      how="exit $rc"
      if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then how="hung (killed after 15 minutes)"
      elif [ "$rc" -gt 128 ]; then how="crashed: signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null || echo ?)) during the action on the last line of its log"; fi
      DETAILS+=("- $b, seed $seed: $how, $f findings, $r sanitizer reports; replay: \`studio_monkey --replay $dir/monkey/seed-$seed.log\`")
      while IFS= read -r l; do DETAILS+=("    $l"); done < <(grep -E '^\[monkey\] FINDING|^WARNING: ThreadSanitizer|ERROR: (Address|Leak)Sanitizer|runtime error:|^SUMMARY' "$logf" | head -5)
    fi
    seeds=$(( seeds + 1 )); seed=$(( seed + 1 ))
  done
  ROWS+=("| $b | $build_s | $seeds ($FIRST_SEED–$(( seed - 1 ))) | $actions | $jobs | $dialogs | $closed | $longest ms: ${longest_what:-–} | $stall ms | $findings | $reports |")
done

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
{
  echo "# GUI monkey campaign"
  echo
  echo "\`scripts/gui_monkey.sh\` at commit $commit, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($cpu), offscreen:"
  echo "seeds of $ACTIONS random actions each for $MINUTES minutes per build (the action list and the invariants"
  echo "checked after every action: tests/ui/studio_monkey.cpp). Build seconds include compiling from the"
  echo "state the build folder was in. The longest action is GUI-thread time inside one action (a modal"
  echo "dialog included until the monkey answers it); the stall is the longest gap between the studio's"
  echo "5 ms heartbeat ticks, the monkey's own checks excluded."
  echo
  echo "| build | build s | seeds | actions | jobs started | dialogs answered | windows closed mid-session | longest action | longest stall | findings | sanitizer reports |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  for r in "${ROWS[@]}"; do echo "$r"; done
  echo
  if [ "$FAILED" -eq 0 ]; then echo "No finding, crash or sanitizer report."; else echo "**Findings**:"; for d in "${DETAILS[@]}"; do echo "$d"; done; fi
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "report: $OUT"
exit "$FAILED"
