#!/usr/bin/env bash
# The hardening checks: one clang build with AddressSanitizer + UndefinedBehaviorSanitizer and
# libFuzzer instrumentation (build-asan/, -DMABERT_FUZZ=ON, GUI off), then
#   tests        the core and kernel tests under ASan + UBSan (CTest)
#   regressions  every input that once broke a reader (tests/fuzz/regressions/<reader>/), run once
#   fuzz         every fuzz target for FUZZ_SECONDS on a copy of its seed corpus (tests/fuzz/seeds/)
#   tsan         the studio's worker tests (test_studio: training, pause/stop, the analysis and
#                experiment workers) built with ThreadSanitizer in build-tsan/ (gcc) and run
#                offscreen; any ThreadSanitizer report fails it (tests/tsan.supp: uninstrumented
#                third-party internals only)
# and a summary with the wall time of each part. Exits non-zero on any test failure, sanitizer
# report, crash, hang (-timeout) or leak.
#
#   scripts/hardening.sh                 build + tests + regressions + fuzz + tsan
#   scripts/hardening.sh build fuzz      only those parts (any of: build tests regressions fuzz tsan)
#
# Environment: ASAN_BUILD_DIR (default build-asan), TSAN_BUILD_DIR (default build-tsan),
#   TSAN_TESTS (test_studio functions, default all but the Xvfb screenshots), FUZZ_SECONDS (default 20, per target),
#   FUZZ_RUNS (instead of FUZZ_SECONDS: each target runs this many executions; scripts/fuzz_campaign.sh),
#   FUZZ_REPORT (a file that gets one tab-separated line per target: target, executions, seconds,
#   exec/s, coverage before and after, features, corpus entries, result),
#   FUZZ_TARGETS (default all, e.g. "config grid"), JOBS (build jobs, default nproc),
#   CTEST_ARGS (default: the core and kernel tests, -E '^cli_'), Torch_DIR (as for setup.sh).
# Measured on 2 cores (FUZZ_SECONDS=20): build 483 s from an empty ccache, 42 s from a warm one
# (a fresh build-asan/ then only configures, regenerates the PCHs and links); tests 162 s;
# regressions 11 s; fuzzing 9 targets x 23 s = 207 s. Keep ~/.cache/ccache between CI runs.
# Needs clang and libclang-rt-14-dev (scripts/setup.sh installs both) and the LibTorch that
# scripts/setup.sh put into .venv (or Torch_DIR).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" hardening
BUILD_DIR="${ASAN_BUILD_DIR:-$ROOT/build-asan}"
defaults FUZZ_SECONDS=20 FUZZ_RUNS= FUZZ_REPORT= JOBS="$(nproc)"
FUZZ_DIR="$ROOT/tests/fuzz"
ALL_TARGETS=(config grid glue corpus safetensors tokenizer registry metrics project)
read -r -a TARGETS <<< "${FUZZ_TARGETS:-${ALL_TARGETS[*]}}"
PARTS=("$@")
[ ${#PARTS[@]} -eq 0 ] && PARTS=(build tests regressions fuzz tsan)
want() { local p; for p in "${PARTS[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }
for p in "${PARTS[@]}"; do
  case "$p" in build|tests|regressions|fuzz|tsan) ;; *) echo "usage: $0 [build] [tests] [regressions] [fuzz] [tsan]" >&2; exit 2 ;; esac
done

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }
SUMMARY=()
FAILED=0
note() { SUMMARY+=("$1"); }

# Sanitizer settings for everything run below. LibTorch, OpenMP, SQLite, SentencePiece and Qt
# are prebuilt without instrumentation; tests/lsan.supp names the third-party allocations that
# LeakSanitizer cannot see freed (each entry says why). Nothing of ours is suppressed.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=0:abort_on_error=0:allocator_may_return_null=0:print_summary=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}"
# The fuzz drivers' scratch files (in memory where /dev/shm exists), removed at the end.
FUZZ_SCRATCH="$(mktemp -d "$( [ -w /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/mabert-hardening-XXXXXX")"
export MABERT_FUZZ_SCRATCH="$FUZZ_SCRATCH"
CLEANUP=("$FUZZ_SCRATCH")
trap 'rm -rf "${CLEANUP[@]}"' EXIT
# Keep LibTorch to one thread: two cores, and OpenMP's thread pool is not what is being tested.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

# --- build ------------------------------------------------------------------------------------
if want build; then
  t0=$(now)
  command -v clang++ >/dev/null || { echo "clang++ not found: apt install clang libclang-rt-14-dev (scripts/setup.sh does)" >&2; exit 1; }
  # -O1 with line tables: readable sanitizer reports; no NDEBUG, so assertions stay on.
  cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -gline-tables-only"
              "-DCMAKE_C_FLAGS_RELEASE=-O1 -gline-tables-only" -DMABERT_FUZZ=ON -DMABERT_GUI=OFF -DMABERT_CUDA=OFF)
  if [ -n "${Torch_DIR:-}" ]; then cmake_args+=(-DTorch_DIR="$Torch_DIR"); fi
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    log "configuring $BUILD_DIR (clang, ASan + UBSan + libFuzzer)"
    CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD_DIR" "${cmake_args[@]}"
  fi
  # ccache and precompiled headers: these let ccache reuse objects built with the same PCH.
  export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
  # What the later parts run: the harness tests and the fuzzers (not the CLI or its tests).
  log "building the unit tests and fuzz targets (-j$JOBS)"
  cmake --build "$BUILD_DIR" -j"$JOBS" --target unit_tests fuzz_targets
  note "build: $(since "$t0") s"
fi
if want tests || want regressions || want fuzz; then
  [ -d "$BUILD_DIR" ] || { echo "$BUILD_DIR is not built: run $0 build" >&2; exit 1; }
fi

# --- tests --------------------------------------------------------------------------------------
if want tests; then
  t0=$(now)
  log "core and kernel tests under ASan + UBSan"
  read -r -a ctest_args <<< "${CTEST_ARGS:--E ^cli_}"
  if (cd "$BUILD_DIR" && ctest --output-on-failure --timeout 1800 -j1 "${ctest_args[@]}"); then
    note "tests: $(since "$t0") s, all passed"
  else
    note "tests: $(since "$t0") s, FAILED (see above)"
    FAILED=1
  fi
fi

fuzzer() { echo "$BUILD_DIR/tests/fuzz/fuzz_$1"; }
max_len() {
  case "$1" in
    config) echo 4096 ;;
    tokenizer) echo 262144 ;;  # the seed from `mabert tokenizer train` is 240 kB (its NFKC map)
    safetensors|registry) echo 32768 ;;
    *) echo 8192 ;;
  esac
}
ARTIFACTS="$BUILD_DIR/fuzz-artifacts"

# --- regressions ----------------------------------------------------------------------------------
if want regressions; then
  t0=$(now)
  n_inputs=0
  for t in "${TARGETS[@]}"; do
    dir="$FUZZ_DIR/regressions/$t"
    [ -d "$dir" ] || continue
    mapfile -t inputs < <(find "$dir" -type f | sort)
    [ ${#inputs[@]} -gt 0 ] || continue
    [ -x "$(fuzzer "$t")" ] || { log "fuzz_$t was not built"; FAILED=1; continue; }
    log "regressions/$t: ${#inputs[@]} inputs"
    if "$(fuzzer "$t")" -rss_limit_mb=4096 -timeout=10 "${inputs[@]}" > "$BUILD_DIR/regressions-$t.log" 2>&1; then
      n_inputs=$((n_inputs + ${#inputs[@]}))
    else
      tail -40 "$BUILD_DIR/regressions-$t.log"
      note "regressions/$t: FAILED (log: $BUILD_DIR/regressions-$t.log)"
      FAILED=1
    fi
  done
  note "regressions: $n_inputs inputs, $(since "$t0") s"
fi

# --- fuzz -------------------------------------------------------------------------------------------
if want fuzz; then
  t_all=$(now)
  mkdir -p "$ARTIFACTS"
  work="$(mktemp -d)"
  CLEANUP+=("$work")
  for t in "${TARGETS[@]}"; do
    bin="$(fuzzer "$t")"
    if [ ! -x "$bin" ]; then
      log "fuzz_$t was not built"
      note "fuzz_$t: NOT BUILT"
      FAILED=1
      continue
    fi
    t0=$(now)
    mkdir -p "$work/$t"
    cp "$FUZZ_DIR/seeds/$t/"* "$work/$t/"
    logf="$BUILD_DIR/fuzz-$t.log"
    if [ -n "$FUZZ_RUNS" ]; then budget=(-runs="$FUZZ_RUNS"); limit=86400; what="$FUZZ_RUNS executions"
    else budget=(-max_total_time="$FUZZ_SECONDS"); limit=$((FUZZ_SECONDS + 300)); what="${FUZZ_SECONDS} s"; fi
    log "fuzz_$t: $what on $(ls "$work/$t" | wc -l) seeds, -max_len=$(max_len "$t")"
    rc=0
    timeout --kill-after=10 "$limit" "$bin" "$work/$t" "${budget[@]}" -max_len="$(max_len "$t")" \
      -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$t-" > "$logf" 2>&1 || rc=$?
    # libFuzzer's status lines: "#<runs>\tINITED cov: <edges> ft: ..." after the seeds,
    # "#<runs>\tDONE   cov: <edges> ft: ... <n> exec/s ..." at the end.
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logf" | tail -1)
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$logf" | tail -1 || true)
    cov0=$(grep -E '^#[0-9]+[[:space:]]+INITED' "$logf" | tail -1 | sed -n 's/.* cov: \([0-9]*\).*/\1/p' || true)
    cov1=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$done_line")
    rate=$(sed -n 's/.* exec\/s: \([0-9]*\).*/\1/p' <<< "$done_line")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$done_line")
    corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<< "$done_line")
    if [ -n "$FUZZ_REPORT" ]; then
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${execs:-?}" "$(since "$t0")" "${rate:-?}" "${cov0:-?}" "${cov1:-?}" \
        "${ft:-?}" "${corp:-?}" "$([ $rc -eq 0 ] && echo ok || echo "FAILED rc $rc: $(ls -1 "$ARTIFACTS" | grep "^$t-" | tr '\n' ' ')")" >> "$FUZZ_REPORT"
    fi
    if [ $rc -eq 0 ]; then
      note "fuzz_$t: ${execs:-?} executions in $(since "$t0") s (${rate:-?} exec/s), coverage ${cov0:-?} -> ${cov1:-?} (+$(( ${cov1:-0} - ${cov0:-0} ))), no crash, hang or leak"
    else
      found=$(ls -1 "$ARTIFACTS" | grep "^$t-" || true)
      grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|reader contract broken|SUMMARY' "$logf" | head -5 || true
      note "fuzz_$t: FAILED (rc $rc) after ${execs:-?} executions, $(since "$t0") s; inputs: ${found:-none}; log: $logf"
      note "  -> copy the input to tests/fuzz/regressions/$t/<what-it-is>, fix the reader, rerun"
      FAILED=1
    fi
    rm -rf "${work:?}/$t"
  done
  note "fuzzing: ${#TARGETS[@]} targets x ${FUZZ_RUNS:-${FUZZ_SECONDS} s}${FUZZ_RUNS:+ executions}, $(since "$t_all") s in all"
fi

# --- tsan ---------------------------------------------------------------------------------------
if want tsan; then
  t0=$(now)
  TSAN_DIR="${TSAN_BUILD_DIR:-$ROOT/build-tsan}"
  tsan_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -g1" -DMABERT_SANITIZE=thread
             -DMABERT_CUDA=OFF -DMABERT_GUI=ON)
  if [ -n "${Torch_DIR:-}" ]; then tsan_args+=(-DTorch_DIR="$Torch_DIR"); fi
  if [ ! -f "$TSAN_DIR/build.ninja" ]; then
    log "configuring $TSAN_DIR (ThreadSanitizer)"
    cmake -S "$ROOT" -B "$TSAN_DIR" "${tsan_args[@]}"
  fi
  log "building test_studio with ThreadSanitizer (-j$JOBS)"
  cmake --build "$TSAN_DIR" -j"$JOBS" --target test_studio
  t_build=$(since "$t0")
  t1=$(now)
  read -r -a functions <<< "${TSAN_TESTS:-composerEdits trainingFromTheGuiStreamsProgressAndEnds viewsFillFromTheTrainedModel stopAnswersWithinASecondAndPauseHolds stopBeforeTheWorkerBeginsHolds projectsRoundTrip experimentsTabRunsAGrid plotsAndTablesExport}"
  logf="$TSAN_DIR/tsan.log"
  log "test_studio under ThreadSanitizer: ${functions[*]}"
  rc=0
  # exitcode=0: the count of reports below decides, so that every report is seen, not just the first.
  TSAN_OPTIONS="suppressions=$ROOT/tests/tsan.supp:halt_on_error=0:exitcode=0:second_deadlock_stack=1:report_signal_unsafe=0" \
    MABERT_TIME_SCALE=15 QTEST_FUNCTION_TIMEOUT=1800000 QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=2 \
    "$TSAN_DIR/tests/test_studio" "${functions[@]}" > "$logf" 2>&1 || rc=$?
  reports=$(grep -c '^WARNING: ThreadSanitizer' "$logf" || true)
  passed=$(grep -E '^Totals:' "$logf" | tail -1)
  if [ $rc -eq 0 ] && [ "$reports" -eq 0 ]; then
    note "tsan: build ${t_build} s, test_studio $(since "$t1") s: ${passed:-?}, 0 ThreadSanitizer reports"
  else
    grep -A12 '^WARNING: ThreadSanitizer' "$logf" | head -60 || true
    grep -E '^(FAIL|Totals)' "$logf" || true
    note "tsan: FAILED (exit $rc, $reports ThreadSanitizer reports; log: $logf)"
    FAILED=1
  fi
fi

echo
log "summary"
for line in "${SUMMARY[@]}"; do echo "  $line"; done
exit $FAILED
