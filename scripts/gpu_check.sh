#!/usr/bin/env bash
# Every GPU claim checked in one prepared call (issue 22).
#
#   scripts/gpu_check.sh --prepare     HERE: gather what the GPU machine lacks into .gpu-bundle/
#   scripts/gpu_check.sh --dry-run [MABERT]
#                                      HERE, no GPU, < 60 s, no compiling (CTest: gpu_check_dry_run):
#                                      the bundle is complete and small enough, every stage's command
#                                      line is known to the binary (MABERT, default build/app/mabert,
#                                      when it exists), the time budget and the bandwidth arithmetic
#                                      add up, and the plan is printed. Prepares the bundle if missing.
#                                      --dry-run --configure also configures (no build) a scratch
#                                      folder in /tmp exactly as the GPU machine will (~30 s).
#   scripts/gpu_check.sh               THERE, from the repository root, on the GPU machine: build the
#                                      GUI-less tree against its torch, run the CUDA tests, the scan and
#                                      model benchmarks and the CPU/CUDA pretraining comparison, and
#                                      write $OUT/summary.md, results.json, gpu_check.log, artifacts.tar.gz.
#   scripts/gpu_check.sh --only scan,report
#                                      rerun some stages (the build folder and earlier results stay).
#
# The device call (README, "GPU check"): carry [".gpu-bundle"], command `bash scripts/gpu_check.sh`.
# Each stage runs under its own timeout; the timeouts add up to at most 8 minutes.
#
# Environment: OUT (results; default $WORK/out), GPU_CHECK_WORK (scratch, default /tmp/mabert-gpu-check),
#              GPU_CHECK_BUILD_DIR (default build-gpu), GPU_CHECK_COMMIT (recorded in the summary; the
#              device's copy has no .git), GPU_CHECK_TRAIN_BATCH (bench model training
#              batch, default 2), GPU_CHECK_TIMEOUT_<STAGE> (seconds; stage name upper-cased, '-' as '_').
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" gpu-check
SELF="$ROOT/scripts/gpu_check.sh"
REPORT="$ROOT/scripts/gpu_check_report.py"
BUNDLE="${GPU_CHECK_BUNDLE:-$ROOT/.gpu-bundle}"
BUILD="${GPU_CHECK_BUILD_DIR:-$ROOT/build-gpu}"
WORK="${GPU_CHECK_WORK:-/tmp/mabert-gpu-check}"
M="$BUILD/app/mabert"
CORPUS="$ROOT/resources/demo/corpus.txt"   # in the repository: ../shared does not travel
PAPER="$ROOT/../shared/papers/mabert-paper.txt"
TRAIN_BATCH="${GPU_CHECK_TRAIN_BATCH:-2}"
CARRY_LIMIT=$((64 * 1024 * 1024))           # what one device call carries: working tree + carried folders
BUDGET_S=500                                # the whole run, all stages' timeouts together
PYTHON="${PYTHON:-python3}"
export ROOT SELF REPORT BUNDLE BUILD WORK M CORPUS TRAIN_BATCH PYTHON

log() { printf '[gpu-check] %s\n' "$*"; }
die() { printf '[gpu-check] error: %s\n' "$*" >&2; exit 1; }
SKIP=77
skip() { printf '[gpu-check] SKIP: %s\n' "$*"; exit $SKIP; }

# --- the stages and their timeouts (seconds) ---------------------------------------------------
STAGES=(preflight configure build ctest pretrain scan
        model-hybrid-inference model-hybrid-train model-baselines-inference model-baselines-train
        nccl report)
declare -A TIMEOUT=(
  [preflight]=15 [configure]=35 [build]=175 [ctest]=45 [pretrain]=40 [scan]=40
  [model-hybrid-inference]=15 [model-hybrid-train]=20
  [model-baselines-inference]=25 [model-baselines-train]=35
  [nccl]=50 [report]=5)
for s in "${STAGES[@]}"; do
  v="GPU_CHECK_TIMEOUT_$(echo "$s" | tr 'a-z-' 'A-Z_')"
  if [ -n "${!v:-}" ]; then TIMEOUT[$s]="${!v}"; fi
done

# --- the bundle: what the device lacks ------------------------------------------------------------
# Debian packages copied file by file (headers and CMake package configs; the sqlite3 shared library
# under its SONAME), plus the static SentencePiece of scripts/build_sentencepiece.sh.
BUNDLE_PACKAGES=(nlohmann-json3-dev libcli11-dev libsqlite3-dev libsqlite3-0 libgloo-dev)
BUNDLE_REQUIRED=(
  usr/include/nlohmann/json.hpp usr/share/cmake/nlohmann_json/nlohmann_jsonConfig.cmake
  usr/include/CLI/CLI.hpp usr/share/cmake/CLI11/CLI11Config.cmake
  usr/include/sqlite3.h usr/lib/libsqlite3.so.0 usr/include/gloo/algorithm.h
  sentencepiece/include/sentencepiece_processor.h sentencepiece/include/sentencepiece_trainer.h
  sentencepiece/lib/libsentencepiece.a sentencepiece/lib/libsentencepiece_train.a)
SPM="$ROOT/.deps/sentencepiece"

# How the device's configure finds them: -D hints only; the normal build is untouched.
bundle_cmake_args() {
  printf '%s\n' \
    "-Dnlohmann_json_DIR=$BUNDLE/usr/share/cmake/nlohmann_json" \
    "-DCLI11_DIR=$BUNDLE/usr/share/cmake/CLI11" \
    "-DSQLite3_INCLUDE_DIR=$BUNDLE/usr/include" \
    "-DSQLite3_LIBRARY=$BUNDLE/usr/lib/libsqlite3.so.0" \
    "-DMABERT_GLOO_INCLUDE=$BUNDLE/usr/include" \
    "-DMABERT_SPM_PREFIX=$BUNDLE/sentencepiece"
}

pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }
mib() { awk -v b="$1" 'BEGIN { if (b < 1048576) printf "%.0f KiB", b / 1024; else printf "%.1f MiB", b / 1048576 }'; }

# prepare [build-spm]: build-spm=1 builds SentencePiece when .deps has none (the dry run passes 0).
prepare() {
  local build_spm="${1:-1}" pkg f rel tmp
  command -v dpkg-query >/dev/null || die "--prepare needs dpkg (run it on the Debian development machine)"
  for pkg in "${BUNDLE_PACKAGES[@]}"; do
    [ -n "$(pkg_version "$pkg")" ] || die "Debian package $pkg is not installed (apt-get install $pkg, or scripts/setup.sh)"
  done
  if [ ! -f "$SPM/lib/libsentencepiece.a" ] || [ ! -f "$SPM/lib/libsentencepiece_train.a" ]; then
    if [ "$build_spm" = 1 ]; then
      log "no static SentencePiece in $SPM: building it (scripts/build_sentencepiece.sh)"
      bash "$ROOT/scripts/build_sentencepiece.sh" "$SPM"
    else
      return $SKIP
    fi
  fi
  rm -rf "$ROOT"/.gpu-bundle.tmp.*
  tmp="$(mktemp -d "$ROOT/.gpu-bundle.tmp.XXXXXX")"
  copy_into() { mkdir -p "$tmp/$(dirname "$2")" && cp -L "$1" "$tmp/$2"; }
  # Header-only libraries with their CMake configs (relocatable: they locate the headers relative
  # to themselves), and sqlite3's headers.
  for pkg in nlohmann-json3-dev libcli11-dev libsqlite3-dev libgloo-dev; do
    while IFS= read -r f; do
      case "$f" in
        /usr/include/*|/usr/share/cmake/*) [ -f "$f" ] && [ ! -L "$f" ] && copy_into "$f" "${f#/}" ;;
      esac
    done < <(dpkg -L "$pkg")
  done
  # sqlite3's shared library: the file behind the SONAME link, copied under the SONAME (no links
  # travel), linked by full path and found at run time through the build's RPATH.
  f="$(dpkg -L libsqlite3-0 | grep '/libsqlite3\.so\.0$' | head -1)"
  [ -n "$f" ] && [ -e "$f" ] || die "libsqlite3-0 lists no libsqlite3.so.0"
  copy_into "$f" usr/lib/libsqlite3.so.0
  # SentencePiece, static, its globals renamed (see scripts/build_sentencepiece.sh).
  for f in include/sentencepiece_processor.h include/sentencepiece_trainer.h lib/libsentencepiece.a lib/libsentencepiece_train.a; do
    copy_into "$SPM/$f" "sentencepiece/$f"
  done
  # The manifest: where each part came from, then sha256, size and path of every file.
  {
    echo "# MaBERT GPU-check bundle, prepared $(date -u +%Y-%m-%dT%H:%M:%SZ) by scripts/gpu_check.sh --prepare"
    for pkg in "${BUNDLE_PACKAGES[@]}"; do echo "# package $pkg $(pkg_version "$pkg")"; done
    echo "# sentencepiece static, built from $(cat "$SPM/.built-from" 2>/dev/null || echo unknown)"
    (cd "$tmp" && find . -type f ! -name MANIFEST -printf '%P\n' | LC_ALL=C sort | while IFS= read -r rel; do
      printf '%s %s %s\n' "$(sha256sum "$rel" | cut -d' ' -f1)" "$(stat -c %s "$rel")" "$rel"
    done)
  } > "$tmp/MANIFEST"
  rm -rf "$BUNDLE"
  mv "$tmp" "$BUNDLE"
  log "prepared $BUNDLE"
  bundle_report
}

bundle_bytes() { du -sb "$BUNDLE" | cut -f1; }

bundle_report() {
  local part bytes total tree
  log "what travels (carry: .gpu-bundle):"
  for part in usr/include/nlohmann usr/include/CLI usr/include/sqlite3.h usr/include/sqlite3ext.h \
              usr/share/cmake usr/lib/libsqlite3.so.0 sentencepiece MANIFEST; do
    [ -e "$BUNDLE/$part" ] || continue
    bytes="$(du -sb "$BUNDLE/$part" | cut -f1)"
    printf '  %-28s %10s  (%s files)\n' "$part" "$(mib "$bytes")" "$(find "$BUNDLE/$part" -type f | wc -l)"
  done
  total="$(bundle_bytes)"
  printf '  %-28s %10s  (%s files)\n' "total" "$(mib "$total")" "$(find "$BUNDLE" -type f | wc -l)"
  if tree="$(tree_bytes)"; then
    log "with the working tree ($(mib "$tree")): $(mib $((tree + total))) of the $(mib $CARRY_LIMIT) one call carries"
  fi
}

# Bytes of the files a device call sends besides the carried folders: tracked and untracked files
# that git does not ignore.
tree_bytes() {
  command -v git >/dev/null && git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1 || return 1
  git -C "$ROOT" ls-files -z -co --exclude-standard | (cd "$ROOT" && xargs -0 -r stat -c %s -- 2>/dev/null || true) |
    awk '{ s += $1 } END { print s + 0 }'
}

# verify_bundle: every required file there, every file as the manifest says, under the limit.
verify_bundle() {
  local f sum size rel bad=0 n=0 total tree
  [ -d "$BUNDLE" ] || die "no bundle at $BUNDLE: run scripts/gpu_check.sh --prepare on the development machine"
  [ -f "$BUNDLE/MANIFEST" ] || die "$BUNDLE/MANIFEST is missing: run scripts/gpu_check.sh --prepare again"
  for f in "${BUNDLE_REQUIRED[@]}"; do
    [ -f "$BUNDLE/$f" ] || { printf '  missing from the bundle: %s\n' "$f"; bad=1; }
  done
  while read -r sum size rel; do
    case "$sum" in '#'*|'') continue ;; esac
    n=$((n + 1))
    if [ ! -f "$BUNDLE/$rel" ]; then printf '  missing: %s\n' "$rel"; bad=1; continue; fi
    if [ "$(stat -c %s "$BUNDLE/$rel")" != "$size" ] || [ "$(sha256sum "$BUNDLE/$rel" | cut -d' ' -f1)" != "$sum" ]; then
      printf '  changed since --prepare: %s\n' "$rel"; bad=1
    fi
  done < "$BUNDLE/MANIFEST"
  [ "$bad" = 0 ] || die "the bundle $BUNDLE is incomplete or changed (see above): run scripts/gpu_check.sh --prepare"
  total="$(bundle_bytes)"
  [ "$total" -le "$CARRY_LIMIT" ] || die "the bundle is $(mib "$total"), over the $(mib $CARRY_LIMIT) a call carries"
  if tree="$(tree_bytes)" && [ $((tree + total)) -gt "$CARRY_LIMIT" ]; then
    die "working tree $(mib "$tree") + bundle $(mib "$total") is over the $(mib $CARRY_LIMIT) a call carries"
  fi
  log "bundle: $n files as in its manifest, $(mib "$total"); every required file present"
}

# The bundle no longer matches the installed packages (an upgrade here): prepare again.
bundle_stale() {
  local pkg v
  for pkg in "${BUNDLE_PACKAGES[@]}"; do
    v="$(pkg_version "$pkg")"
    [ -z "$v" ] || grep -qxF "# package $pkg $v" "$BUNDLE/MANIFEST" || { echo "$pkg is now $v"; return 0; }
  done
  if [ -f "$SPM/.built-from" ] && ! grep -qF "built from $(cat "$SPM/.built-from")" "$BUNDLE/MANIFEST"; then
    echo "SentencePiece was rebuilt"; return 0
  fi
  return 1
}

# --- the command line of each step (shared by the run and the dry run) -------------------------
# Each sets SUB (the subcommand, for --help) and ARGS (its arguments).
SCAN_SHAPE=(--batch 1 --channels 1536 --state 16 --lengths 4096)
LENGTHS=512,1024,2048,4096
cmd_scan() {  # variant dtype
  SUB=(bench scan)
  ARGS=(--device cuda --dtype "$2" "${SCAN_SHAPE[@]}" --paths cuda --repeats 30 --warmup 5 --json)
}
cmd_model() {  # hybrid|baselines inference|train
  SUB=(bench model)
  ARGS=(--preset base --device cuda --bf16 --lengths "$LENGTHS")
  if [ "$1" = baselines ]; then ARGS+=(--baselines); fi
  if [ "$2" = inference ]; then ARGS+=(--mode inference --repeats 10 --warmup 2)
  else ARGS+=(--mode train --train-batch "$TRAIN_BATCH" --repeats 5 --warmup 1); fi
  ARGS+=(--json --out "$WORK/model/$1-$2")
}
cmd_info() { SUB=(info); ARGS=(--preset tiny --json); }
cmd_tokenizer() { SUB=(tokenizer train); ARGS=(--input "$CORPUS" --out "$WORK/pretrain/tok" --vocab 2000); }
cmd_pretrain() {  # cpu|cuda-fp32|cuda-bf16
  SUB=(pretrain)
  ARGS=(--corpus "$CORPUS" --tokenizer "$WORK/pretrain/tok.model" --config "$WORK/pretrain/config.json"
        --steps 80 --batch 16 --max-len 64 --lr 5e-4 --log-every 5 --seed 7 --quiet
        --out "$WORK/pretrain/$1" --registry "$WORK/pretrain/$1.db")
  case "$1" in
    cpu) ARGS+=(--device cpu --threads 10) ;;
    cuda-fp32) ARGS+=(--device cuda --threads 2) ;;
    cuda-bf16) ARGS+=(--device cuda --bf16 --threads 2) ;;
  esac
}
# NCCL: one rank under torchrun on the GPU: a process group of one, so every collective of the
# training step (the gradient all-reduce in buckets, the loss sums, the checkpoint's gathers) runs
# through NCCL; then the bucketed all-reduce timed per preset.
cmd_nccl_pretrain() {
  SUB=(pretrain)
  ARGS=(--device cuda --corpus "$CORPUS" --preset tiny --vocab 800 --steps 6 --batch 8 --max-len 32 --max-sentences 400
        --log-every 1 --save-every 3 --out "$WORK/nccl/run" --registry "$WORK/nccl/runs.db" --dist-timeout 60)
}
# Fine-tuning (MQAR from random weights: no data files) and one grid cell, each on one NCCL rank.
cmd_nccl_finetune() {
  SUB=(finetune)
  ARGS=(--device cuda --task mqar --length 64 --pairs 4 --eval-examples 256 --steps 20 --batch 32 --lr 3e-3 --eval-every 10
        --log-every 5 --out "$WORK/nccl/finetune" --registry "$WORK/nccl/runs.db" --dist-timeout 60)
}
cmd_nccl_grid() { SUB=(ablate); ARGS=(--grid "$WORK/nccl/grid.json" --out "$WORK/nccl/grid" --registry "$WORK/nccl/runs.db" --dist-timeout 60); }
# The grid of that one cell: MT on MQAR at length 64, 20 steps on CUDA (written before it runs).
write_nccl_grid() {
  mkdir -p "$(dirname "$1")"
  cat > "$1" <<'JSON'
{"name": "nccl-cell", "preset": "tiny", "model": {"d_model": 64, "n_heads": 4, "d_ffn": 256, "dropout": 0.0, "token_shift": true, "position": "none"},
 "variants": [{"name": "MT", "schedule": "MT"}],
 "finetune": {"steps": 20, "batch": 32, "lr": 0.003, "eval_every": 10, "device": "cuda"},
 "tasks": [{"task": "mqar", "length": 64, "pairs": 4, "eval_examples": 256}], "seeds": [1]}
JSON
}
cmd_nccl_allreduce() { SUB=(bench allreduce); ARGS=(--device cuda --presets tiny,small,base --repeats 10); }
# Stated before any GPU run: relative to the CPU fp32 run, the first logged loss (mean of steps
# 1-5) and then every logged loss and the held-out MLM loss.
TOL_FP32=(0.005 0.02)
TOL_BF16=(0.02 0.05)

configure_args() {
  local torch_prefix="$1"
  printf '%s\n' -G Ninja -DCMAKE_BUILD_TYPE=Release -DMABERT_GUI=OFF -DMABERT_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DMABERT_BUILD_TESTS=ON "-DTorch_DIR=$torch_prefix/Torch"
  bundle_cmake_args
}

# --- stages (each runs in its own process under its timeout) ------------------------------------
need_binary() { [ -x "$M" ] || skip "no $M (the build did not finish)"; }

# The dispatcher logs one "[selective_scan] ..." line when it does not use a fast path (failed
# self-check, no kernel image for the device): then a CUDA number is the reference's, not ours.
no_scan_fallback() {
  if grep -h '^\[selective_scan\]' "$@" 2>/dev/null; then
    die "the CUDA scan was not used (the line above, in $*)"
  fi
}

stage_preflight() {
  verify_bundle
  local ok=1 t
  for t in nvidia-smi nvcc cmake ninja c++ "$PYTHON"; do
    if command -v "$t" >/dev/null || [ -x "/usr/local/cuda/bin/$t" ]; then :; else log "missing: $t"; ok=0; fi
  done
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.memory --format=csv,noheader || ok=0
  { command -v nvcc >/dev/null && nvcc --version || /usr/local/cuda/bin/nvcc --version; } | tail -1 || true
  cmake --version | head -1; echo "ninja $(ninja --version)"; c++ --version | head -1; echo "$(nproc) cores"
  "$PYTHON" - <<'EOF' || ok=0
import datetime, json, os, subprocess, torch
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True, timeout=5).stdout.strip()
    except Exception: return ""
cuda = torch.cuda.is_available()
env = {"gpu": torch.cuda.get_device_name(0) if cuda else "no GPU visible to torch",
       "torch": torch.__version__, "torch_cuda": torch.version.cuda, "cmake_prefix_path": torch.utils.cmake_prefix_path,
       "driver": sh("nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1"),
       "nvcc": sh("(nvcc --version || /usr/local/cuda/bin/nvcc --version) | tail -1"),
       "cores": os.cpu_count(), "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
       "commit": os.environ.get("GPU_CHECK_COMMIT") or sh("git -C \"$ROOT\" rev-parse --short HEAD 2>/dev/null")
                 or "unknown (no .git there; pass GPU_CHECK_COMMIT)",
       "train_batch": int(os.environ["TRAIN_BATCH"])}
json.dump(env, open(os.path.join(os.environ["WORK"], "env.json"), "w"), indent=1)
print(f"torch {env['torch']} (CUDA {env['torch_cuda']}), GPU: {env['gpu']}")
raise SystemExit(0 if cuda else 1)
EOF
  [ "$ok" = 1 ] || die "the machine lacks a tool or a GPU (see above)"
}

stage_configure() {
  local prefix
  prefix="$("$PYTHON" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')" || die "python3 cannot import torch"
  [ -f "$prefix/Torch/TorchConfig.cmake" ] || die "no TorchConfig.cmake under $prefix/Torch"
  mapfile -t args < <(configure_args "$prefix")
  log "cmake -S . -B $BUILD ${args[*]}"
  cmake -S "$ROOT" -B "$BUILD" "${args[@]}"
  grep -qxF "MABERT_SPM_PREFIX:PATH=$BUNDLE/sentencepiece" "$BUILD/CMakeCache.txt" ||
    die "the configure did not take SentencePiece from the bundle"
}

stage_build() {
  [ -f "$BUILD/build.ninja" ] || skip "not configured"
  local targets=(mabert) t all whole=0
  all="$(ninja -C "$BUILD" -t targets all 2>/dev/null | cut -d: -f1)"
  # The executables `ctest -R cuda` runs (a test's name is its executable's, tests/CMakeLists.txt).
  for t in $(ctest --test-dir "$BUILD" -N -R cuda | sed -n 's/^ *Test *#[0-9]*: *//p'); do
    if grep -qx "$t" <<<"$all"; then targets+=("$t"); else whole=1; fi
  done
  if [ "$whole" = 1 ]; then targets+=(unit_tests); fi
  log "building ${targets[*]} with $(nproc) jobs"
  cmake --build "$BUILD" -j"$(nproc)" --target "${targets[@]}"
}

stage_ctest() {
  need_binary
  mkdir -p "$WORK/ctest"
  ctest --test-dir "$BUILD" -R cuda --output-on-failure -j3 --output-junit "$WORK/ctest/junit.xml"
  # On a GPU machine a CUDA test that skips (77: no device) has checked nothing.
  "$PYTHON" "$REPORT" ctest-check "$WORK/ctest/junit.xml"
}

stage_pretrain() {
  need_binary
  local d="$WORK/pretrain" label labels=(cpu cuda-fp32 cuda-bf16) pids=() i rc=0
  rm -rf "$d" && mkdir -p "$d"
  cmd_info; "$M" "${SUB[@]}" "${ARGS[@]}" > "$d/info.json"
  "$PYTHON" "$REPORT" pretrain-config "$d/info.json" "$d/config.json"
  cmd_tokenizer; "$M" "${SUB[@]}" "${ARGS[@]}" > "$d/tokenizer.log" 2>&1 || { cat "$d/tokenizer.log"; die "tokenizer training failed"; }
  for label in "${labels[@]}"; do  # side by side: 10 + 2 + 2 threads
    cmd_pretrain "$label"
    log "$M ${SUB[*]} ${ARGS[*]}"
    "$M" "${SUB[@]}" "${ARGS[@]}" > "$d/$label.log" 2>&1 &
    pids+=($!)
  done
  for i in "${!labels[@]}"; do
    label="${labels[$i]}"
    if ! wait "${pids[$i]}"; then log "pretraining on $label failed:"; tail -20 "$d/$label.log"; rc=1; fi
  done
  [ "$rc" = 0 ] || die "a pretraining run failed"
  no_scan_fallback "$d/cuda-fp32.log" "$d/cuda-bf16.log"
  "$PYTHON" "$REPORT" pretrain-compare "$d/cpu" "$d/cuda-fp32" cuda-fp32 "${TOL_FP32[@]}" || rc=1
  "$PYTHON" "$REPORT" pretrain-compare "$d/cpu" "$d/cuda-bf16" cuda-bf16 "${TOL_BF16[@]}" || rc=1
  return $rc
}

stage_scan() {
  need_binary
  local variant dtype out rc=0 envs
  mkdir -p "$WORK/scan"
  for variant in parallel sequential; do
    envs=()
    if [ "$variant" = sequential ]; then envs=(MABERT_SCAN_CUDA_FWD=sequential MABERT_SCAN_CUDA_BWD=sequential); fi
    for dtype in float32 bfloat16; do
      out="$WORK/scan/$variant-$dtype"
      cmd_scan "$variant" "$dtype"
      log "${envs[*]} $M ${SUB[*]} ${ARGS[*]}"
      if env ${envs[@]+"${envs[@]}"} "$M" "${SUB[@]}" "${ARGS[@]}" > "$out.json" 2> "$out.log"; then
        "$PYTHON" "$REPORT" scan-line "$out.json" "${envs[*]:+sequential}" || rc=1
      else
        cat "$out.log"; rc=1
      fi
    done
  done
  return $rc
}

model_stage() {  # hybrid|baselines inference|train
  need_binary
  mkdir -p "$WORK/model"
  cmd_model "$1" "$2"
  log "$M ${SUB[*]} ${ARGS[*]}"
  # Progress lines (one per point) to the log as they come: a stage cut short keeps what it measured.
  "$M" "${SUB[@]}" "${ARGS[@]}" 2>&1 > "$WORK/model/$1-$2.json" | tee "$WORK/model/$1-$2.log" >&2
  no_scan_fallback "$WORK/model/$1-$2.log"
}
stage_model-hybrid-inference() { model_stage hybrid inference; }
stage_model-hybrid-train() { model_stage hybrid train; }
stage_model-baselines-inference() { model_stage baselines inference; }
stage_model-baselines-train() { model_stage baselines train; }

stage_nccl() {
  need_binary
  local d="$WORK/nccl" nccl rc=0 launch
  rm -rf "$d" && mkdir -p "$d"
  nccl="$("$PYTHON" -c 'import torch; print(".".join(map(str, torch.cuda.nccl.version())))' 2>/dev/null || echo "?")"
  launch=("$PYTHON" -m torch.distributed.run --no-python --nproc-per-node 1 --master-addr 127.0.0.1)
  cmd_nccl_pretrain
  "${launch[@]}" --master-port 29531 "$M" "${SUB[@]}" "${ARGS[@]}" > "$d/pretrain.log" 2>&1 || { tail -20 "$d/pretrain.log"; rc=1; }
  if [ "$rc" = 0 ]; then
    "$PYTHON" - "$d/run/run.json" <<'PY' || rc=1
import json, sys
info = json.load(open(sys.argv[1]))
print(f"1-rank training on CUDA: backend {info['backend']}, world size {info['world_size']}")
raise SystemExit(0 if info["backend"] == "nccl" else 1)
PY
  fi
  cmd_nccl_finetune
  "${launch[@]}" --master-port 29533 "$M" "${SUB[@]}" "${ARGS[@]}" > "$d/finetune.log" 2>&1 || { tail -20 "$d/finetune.log"; rc=1; }
  write_nccl_grid "$d/grid.json"
  cmd_nccl_grid
  "${launch[@]}" --master-port 29534 "$M" "${SUB[@]}" "${ARGS[@]}" > "$d/grid.log" 2>&1 || { tail -20 "$d/grid.log"; rc=1; }
  "$PYTHON" - "$d/finetune/run.json" "$d/grid" <<'PY' || rc=1
import glob, json, os, sys
info = json.load(open(sys.argv[1]))
cells = glob.glob(os.path.join(sys.argv[2], "cells", "**", "result.json"), recursive=True)
acc = [json.load(open(c)).get("metrics", {}).get("accuracy") for c in cells]
print(f"1-rank fine-tuning (mqar) on CUDA: backend {info['backend']}; grid: {len(cells)} cell(s), accuracy {acc}")
raise SystemExit(0 if info["backend"] == "nccl" and len(cells) == 1 else 1)
PY
  cmd_nccl_allreduce
  "${launch[@]}" --master-port 29532 "$M" "${SUB[@]}" "${ARGS[@]}" > "$d/allreduce.md" 2>"$d/allreduce.log" || { tail -20 "$d/allreduce.log"; rc=1; }
  { echo "torch's NCCL: $nccl"; cat "$d/allreduce.md"; } | tee "$WORK/nccl.txt"
  return $rc
}

stage_report() {
  mkdir -p "$OUT"
  "$PYTHON" "$REPORT" summary "$WORK" "$OUT"
  # Everything else in one archive (the device call brings back at most 8 files); no weights.
  tar -czf "$OUT/artifacts.tar.gz" -C "$WORK" --exclude=checkpoints --exclude=best --exclude='*.db' --exclude=./out \
    --exclude=./logs/report.log .
  log "wrote $OUT/summary.md, results.json, artifacts.tar.gz ($(mib "$(stat -c %s "$OUT/artifacts.tar.gz")"))"
}

# --- running stages ------------------------------------------------------------------------------
run_stage() {
  local name="$1" t="${TIMEOUT[$1]}" t0 rc status note="" elapsed
  log "=== stage $name (timeout ${t} s) ==="
  t0="$(date +%s%N)"
  set +e
  timeout -k 5 "$t" bash "$SELF" --stage "$name" 2>&1 | tee "$WORK/logs/$name.log"
  rc="${PIPESTATUS[0]}"
  set -e
  elapsed="$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')"
  case "$rc" in
    0) status=ok ;;
    124|137) status=TIMEOUT; note="cut at ${t} s" ;;
    "$SKIP") status=SKIP; note="$(grep -m1 'SKIP: ' "$WORK/logs/$name.log" | sed 's/.*SKIP: //' | cut -c1-120 || true)" ;;
    *) status=FAIL; note="exit $rc; $(grep -m1 'error: ' "$WORK/logs/$name.log" | sed 's/.*error: //' | cut -c1-120 || true)" ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$elapsed" "$t" "$note" >> "$WORK/stages.tsv"
  log "stage $name: $status in $elapsed s (timeout $t s)${note:+; $note}"
  # A summary after every stage: a call cut short still brings one back.
  "$PYTHON" "$REPORT" summary "$WORK" "$OUT" >/dev/null 2>&1 || true
  [ "$status" = ok ] || [ "$status" = SKIP ]
}

run_all() {
  local only="${1:-}" s failed=0 selected=()
  OUT="${OUT:-$WORK/out}"
  export OUT
  if [ -n "$only" ]; then
    IFS=, read -r -a selected <<<"$only"
    for s in "${selected[@]}"; do [ -n "${TIMEOUT[$s]:-}" ] || die "unknown stage '$s' (stages: ${STAGES[*]})"; done
  else
    selected=("${STAGES[@]}")
    rm -rf "$WORK"
  fi
  mkdir -p "$WORK/logs" "$OUT"
  export LD_LIBRARY_PATH="$BUNDLE/usr/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  exec > >(tee -a "$OUT/gpu_check.log") 2>&1
  local tee_pid=$!
  log "MaBERT GPU check: stages ${selected[*]}; work $WORK, results $OUT"
  local start="$SECONDS"
  for s in "${selected[@]}"; do run_stage "$s" || failed=1; done
  log "all stages done in $((SECONDS - start)) s"
  # The essentials for the call's output tail; the model tables are in summary.md.
  awk '/^## Whole model/ { skip = 1 } /^## Pretraining/ { skip = 0 } !skip' "$OUT/summary.md" 2>/dev/null || true
  [ "$failed" = 0 ] || log "some stages failed or timed out (see the table above)"
  exec >&- 2>&-
  wait "$tee_pid" 2>/dev/null || true  # gpu_check.log complete before the call returns
  [ "$failed" = 0 ]
}

# --- the dry run ---------------------------------------------------------------------------------
dry_run() {
  local bin="${1:-$ROOT/build/app/mabert}" configure="${2:-0}" s total=0 bad=0 help rc
  local t0="$SECONDS"
  log "dry run: no GPU, nothing compiled"

  log "1. the bundle"
  if [ ! -f "$BUNDLE/MANIFEST" ]; then
    log "no bundle yet: preparing it"
    set +e; (set -e; prepare 0); rc=$?; set -e
    [ "$rc" != $SKIP ] || skip "no static SentencePiece in $SPM (scripts/build_sentencepiece.sh builds it; scripts/setup.sh runs it)"
    [ "$rc" = 0 ] || exit "$rc"
  elif command -v dpkg-query >/dev/null && why="$(bundle_stale)"; then
    log "the bundle is stale ($why): preparing it again"
    set +e; (set -e; prepare 0); rc=$?; set -e
    [ "$rc" = 0 ] || { log "preparing it again failed (rc $rc): checking the old one"; }
  fi
  verify_bundle
  bundle_report

  log "2. the arithmetic"
  for s in "${STAGES[@]}"; do
    [[ "${TIMEOUT[$s]}" =~ ^[1-9][0-9]*$ ]] || { log "  stage $s: timeout '${TIMEOUT[$s]}' is not a positive number"; bad=1; continue; }
    total=$((total + TIMEOUT[$s]))
  done
  if [ "$total" -le "$BUDGET_S" ]; then log "  ok   time budget: the stages' timeouts add up to $total s <= $BUDGET_S s"
  else log "  FAIL time budget: the stages' timeouts add up to $total s > $BUDGET_S s"; bad=1; fi
  local self_args=(self-test --scan-source "$ROOT/core/bench/scan_bench.cpp")
  if [ -f "$PAPER" ]; then self_args+=(--paper "$PAPER"); else log "  (no $PAPER here: the paper's tables are not re-read)"; fi
  "$PYTHON" "$REPORT" "${self_args[@]}" || bad=1
  # The -D options of our own that the device's configure passes still exist.
  for s in MABERT_GUI MABERT_CUDA MABERT_BUILD_TESTS MABERT_SPM_PREFIX MABERT_GLOO_INCLUDE; do
    if grep -rqs "$s" "$ROOT/CMakeLists.txt" "$ROOT/cmake" "$ROOT/core/CMakeLists.txt"; then :; else log "  FAIL -D$s: no longer in CMakeLists.txt or cmake/"; bad=1; fi
  done

  log "3. the command lines against $bin"
  if [ -x "$bin" ]; then
    help="$(mktemp)"
    check() {  # label: SUB/ARGS set by a cmd_* function
      if ! "$bin" "${SUB[@]}" --help > "$help" 2>&1; then log "  FAIL $1: '${SUB[*]} --help' failed"; bad=1; return; fi
      if missing="$("$PYTHON" "$REPORT" check-flags "$help" "${ARGS[@]}")"; then log "  ok   $1: mabert ${SUB[*]} knows ${ARGS[*]//$WORK/\$WORK}"
      else log "  FAIL $1: $missing"; bad=1; fi
    }
    cmd_info; check info
    cmd_tokenizer; check tokenizer
    for s in cpu cuda-fp32 cuda-bf16; do cmd_pretrain "$s"; check "pretrain $s"; done
    for s in float32 bfloat16; do cmd_scan parallel "$s"; check "scan $s"; done
    for s in hybrid baselines; do cmd_model "$s" inference; check "model $s inference"; cmd_model "$s" train; check "model $s train"; done
    cmd_nccl_pretrain; check "nccl pretrain"
    cmd_nccl_finetune; check "nccl finetune"
    cmd_nccl_grid; check "nccl grid"
    write_nccl_grid "$WORK/nccl/grid.json"
    if "$bin" ablate --grid "$WORK/nccl/grid.json" --dry-run > /dev/null 2>"$WORK/nccl/dry.err"; then log "  ok   nccl grid: the one-cell grid validates (--dry-run)"
    else log "  FAIL nccl grid: $(tail -1 "$WORK/nccl/dry.err")"; bad=1; fi
    cmd_nccl_allreduce; check "nccl allreduce"
    rm -f "$help"
  else
    log "  (no $bin yet: command lines not checked)"
  fi
  [ -f "$CORPUS" ] || { log "  FAIL the pretraining corpus $CORPUS is missing"; bad=1; }

  if [ "$configure" = 1 ]; then
    log "4. a configure (no build) exactly as on the device, into /tmp"
    local scratch prefix
    scratch="$(mktemp -d /tmp/gpu-check-configure.XXXXXX)"
    prefix="$("$ROOT/.venv/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
    mapfile -t args < <(configure_args "$prefix")
    if cmake -S "$ROOT" -B "$scratch" "${args[@]}" > "$scratch.log" 2>&1; then
      for s in nlohmann_json_DIR CLI11_DIR SQLite3_INCLUDE_DIR SQLite3_LIBRARY MABERT_GLOO_INCLUDE MABERT_SPM_PREFIX; do
        grep -m1 "^$s:" "$scratch/CMakeCache.txt" | sed 's/^/  /'
      done
      grep -E 'SentencePiece|MaBERT:' "$scratch.log" | sed 's/^/  /'
      log "  ok   configured ($scratch; log $scratch.log)"
    else
      tail -30 "$scratch.log"; log "  FAIL configure (log $scratch.log)"; bad=1
    fi
  fi

  log "the plan (run from the repository root on the GPU machine: bash scripts/gpu_check.sh)"
  for s in "${STAGES[@]}"; do printf '  %-26s %4s s  %s\n' "$s" "${TIMEOUT[$s]}" "$(plan_line "$s")"; done
  printf '  %-26s %4s s\n' "total (at most)" "$total"
  log "dry run done in $((SECONDS - t0)) s: $([ "$bad" = 0 ] && echo passed || echo FAILED)"
  [ "$bad" = 0 ]
}

plan_line() {
  case "$1" in
    preflight) echo "bundle vs manifest; nvidia-smi, nvcc, cmake, ninja, c++; torch sees the GPU" ;;
    configure) echo "cmake -B build-gpu -DMABERT_GUI=OFF -DMABERT_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90, torch of python3, the rest from .gpu-bundle" ;;
    build) echo "mabert + the executables of ctest -R cuda, all cores" ;;
    ctest) echo "ctest -R cuda -j3 (junit XML)" ;;
    pretrain) echo "tiny, dropout 0, 80 steps: cpu fp32 | cuda fp32 | cuda bf16 side by side; loss within ${TOL_FP32[1]} (fp32) / ${TOL_BF16[1]} (bf16) of cpu" ;;
    scan) echo "bench scan B=1 L=4096 E*d=1536 N=16, {parallel, sequential} x {fp32, bf16}, bandwidth share of peak" ;;
    model-hybrid-*) echo "bench model base bf16 MMTMMTMMTMMT vs all-T, ${1##*-}, $LENGTHS" ;;
    model-baselines-inference) echo "bench model --baselines base bf16, inference, $LENGTHS" ;;
    model-baselines-train) echo "bench model --baselines base bf16, train (batch $TRAIN_BATCH), $LENGTHS" ;;
    nccl) echo "1-rank torchrun on CUDA (backend must be nccl): pretraining, fine-tuning (mqar), one grid cell; then bench allreduce --device cuda" ;;
    report) echo "\$OUT/summary.md (paper's A100 Tables B5-B7 beside), results.json, artifacts.tar.gz" ;;
  esac
}

# --- entry ---------------------------------------------------------------------------------------
case "${1:-}" in
  --prepare) prepare 1 ;;
  --dry-run)
    shift
    bin="" configure=0
    for a in "$@"; do
      case "$a" in --configure) configure=1 ;; *) bin="$a" ;; esac
    done
    dry_run "${bin:-$ROOT/build/app/mabert}" "$configure" ;;
  --stage)
    declare -F "stage_$2" >/dev/null || die "unknown stage '$2'"
    cd "$ROOT"
    "stage_$2" ;;
  --only) run_all "${2:?--only needs a comma-separated list of stages}" ;;
  "") run_all ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
  *) die "unknown argument '$1' (see --help)" ;;
esac
