#!/usr/bin/env bash
# One command for a fresh Debian 12 machine: install every dependency, build, then optionally
# run the tests or start the main job. Idempotent: a rerun with nothing changed only checks.
#
#   scripts/setup.sh           install + build
#   scripts/setup.sh test      install + build + run all tests (CTest)
#   scripts/setup.sh run       install + build + open MaBERT Studio on the shipped SST-2 model, the demo one click away (the main job)
#   scripts/setup.sh cli-demo  install + build + the CLI demo (pretraining in the terminal)
#
# Environment: BUILD_DIR (default build), MABERT_GUI (ON|OFF, default ON),
#              MABERT_HARDENING (parts of scripts/hardening.sh that `test` runs; none skips them),
#              MABERT_CUDA (AUTO|ON|OFF), Torch_DIR (use an existing LibTorch >= 2.4 instead of the wheel).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" setup
defaults BUILD_DIR="$ROOT/build" MABERT_GUI=ON MABERT_CUDA=AUTO
TORCH_VERSION="2.11.0"
# Python interop (the Hugging Face export's parity checks), pinned: offline-loadable remote code.
PY_INTEROP=("transformers==5.24.0" "sentencepiece==0.2.3")
VENV="$ROOT/.venv"
ACTION="${1:-build}"


# --- 1. Debian packages (installed only when one is missing) -------------------------------
PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git clang libclang-rt-14-dev dpkg-dev
  python3 python3-venv python3-pip
  qt6-base-dev qt6-base-dev-tools libqt6sql6-sqlite qt6-svg-dev libgl1-mesa-dev libxkbcommon-dev
  libqcustomplot-dev
  libsentencepiece-dev sentencepiece
  nlohmann-json3-dev libcli11-dev libsqlite3-dev libgloo-dev
  xvfb xauth
)
# For `test` only: the Slurm test's one-node cluster (tests/app/slurm_test.sh starts and stops its
# own daemons in a scratch folder; installing them does not configure a cluster).
if [ "$ACTION" = test ]; then PACKAGES+=(slurmctld slurmd slurm-client munge); fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "Debian packages: all present"
fi

# --- 2. LibTorch from the PyPI wheel, in a project-local venv -----------------------------
if [ -z "${Torch_DIR:-}" ]; then
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    /usr/bin/python3 -m venv "$VENV"
  fi
  have="$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || true)"
  if [ "$have" != "$TORCH_VERSION" ]; then
    log "installing torch==$TORCH_VERSION into $VENV (one-time, large download)"
    "$VENV/bin/pip" install -q "torch==$TORCH_VERSION"
  else
    log "torch $have: present"
  fi
fi
# The venv also holds the Python side of interop (transformers, sentencepiece), with or without
# Torch_DIR; without torch in it (Torch_DIR users) the export parity test says so and skips.
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  /usr/bin/python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" - "${PY_INTEROP[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(any(version(p.split("==")[0]) != p.split("==")[1] for p in sys.argv[1:]))
PY
then
  log "installing ${PY_INTEROP[*]} into $VENV"
  "$VENV/bin/pip" install -q "${PY_INTEROP[@]}"
else
  log "${PY_INTEROP[*]}: present"
fi

# --- 2b. SentencePiece, static, from Debian's source package --------------------------------
# Debian's shared library clashes with LibTorch at run time (scripts/build_sentencepiece.sh says
# how); built once, then only checked. MABERT_SPM_SHARED=1 skips it (no deb-src reachable).
if [ "${MABERT_SPM_SHARED:-0}" != 1 ]; then
  bash "$ROOT/scripts/build_sentencepiece.sh" "$ROOT/.deps/sentencepiece"
fi

# --- 3. Configure and build -----------------------------------------------------------------
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DMABERT_GUI="$MABERT_GUI" -DMABERT_CUDA="$MABERT_CUDA")
if [ -n "${Torch_DIR:-}" ]; then cmake_args+=(-DTorch_DIR="$Torch_DIR"); fi
spm_stamp="$ROOT/.deps/sentencepiece/.built-from"
if [ ! -f "$BUILD_DIR/build.ninja" ] || { [ -f "$spm_stamp" ] && [ "$spm_stamp" -nt "$BUILD_DIR/CMakeCache.txt" ]; }; then
  log "configuring $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" "${cmake_args[@]}"
fi
log "building (ninja: no work when nothing changed)"
cmake --build "$BUILD_DIR" -j"$(nproc)"

# --- 4. The requested action ----------------------------------------------------------------
case "$ACTION" in
  build) ;;
  test)
    log "running tests"
    (cd "$BUILD_DIR" && ctest --output-on-failure --timeout 1800 -j1)
    # Then the hardening checks (scripts/hardening.sh): the core tests under ASan + UBSan, every
    # input that once broke a reader, every fuzz target for FUZZ_SECONDS on its seeds, and the
    # studio's worker tests under ThreadSanitizer. MABERT_HARDENING lists the parts (none: skip).
    HARDENING="${MABERT_HARDENING:-build tests regressions fuzz tsan}"
    if [ "$MABERT_GUI" = OFF ]; then HARDENING="${HARDENING/tsan/}"; fi  # the worker tests need Qt
    if [ "$HARDENING" != none ]; then
      log "hardening: $HARDENING"
      # shellcheck disable=SC2086
      FUZZ_SECONDS="${FUZZ_SECONDS:-10}" bash "$ROOT/scripts/hardening.sh" $HARDENING
    fi
    ;;
  run)
    STUDIO="$BUILD_DIR/app/mabert-studio"
    if [ ! -x "$STUDIO" ]; then
      echo "mabert-studio was not built (MABERT_GUI=$MABERT_GUI); 'scripts/setup.sh cli-demo' runs the CLI demo" >&2
      exit 1
    fi
    log "opening MaBERT Studio on the shipped SST-2 model (resources/models); the demo pretraining is on \"Data & runs\" (press Pretrain)"
    if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
      exec "$STUDIO" "${@:2}"
    fi
    log "no DISPLAY: starting it on a virtual X server (xvfb-run); set DISPLAY to see the window"
    exec xvfb-run -a -s "-screen 0 1920x1200x24" "$STUDIO" "${@:2}"
    ;;
  cli-demo)
    log "starting the CLI demo"
    exec "$ROOT/scripts/demo.sh"
    ;;
  *) echo "usage: $0 [build|test|run|cli-demo]" >&2; exit 2 ;;
esac
