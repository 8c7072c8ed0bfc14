#!/usr/bin/env bash
# SentencePiece as static libraries, built from Debian's own source package, for linking into
# MaBERT beside LibTorch.
#
# Why: Debian's libsentencepiece.so.0 exports its command-line flags as global symbols, and
# FLAGS_minloglevel is also a global of LibTorch's libc10.so. The dynamic linker binds both to
# one address, so SentencePiece's static initialiser constructs its 24-byte flag object over
# c10's 4-byte int and the globals after it. One of those is FLAGS_caffe2_use_fatal_for_enforce:
# it becomes true, and every failed CAFFE_ENFORCE (a CPU allocation that fails, for one) then
# aborts the process instead of throwing. Built here, every global SentencePiece defines is
# renamed (prefix mabert_spm_) so nothing it defines can meet a LibTorch symbol.
#
#   scripts/build_sentencepiece.sh [PREFIX]     (default .deps/sentencepiece; idempotent)
#
# Needs deb-src entries for Debian's archive (added here when missing) and dpkg-dev, cmake,
# ninja (scripts/setup.sh installs them).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" sentencepiece
PREFIX="${1:-$ROOT/.deps/sentencepiece}"
WORK="$ROOT/.deps/src"

# The source version that Debian's installed binary package was built from.
VERSION="$(dpkg-query -W -f='${source:Version}' libsentencepiece-dev)"
STAMP="$PREFIX/.built-from"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$VERSION" ] && [ -f "$PREFIX/lib/libsentencepiece.a" ]; then
  log "static libraries of $VERSION: present"
  exit 0
fi

mkdir -p "$WORK"
src="$(find "$WORK" -maxdepth 1 -type d -name 'sentencepiece-*' | head -1)"
if [ -z "$src" ] || [ ! -f "$WORK/.version" ] || [ "$(cat "$WORK/.version")" != "$VERSION" ]; then
  rm -rf "$WORK"/sentencepiece* && mkdir -p "$WORK"
  if ! apt-cache showsrc sentencepiece 2>/dev/null | grep -q "^Version: $VERSION$"; then
    log "adding deb-src entries for Debian's archive"
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
        $SUDO tee /etc/apt/sources.list.d/mabert-deb-src.sources >/dev/null
    else
      sed -n 's/^deb \(.*\)/deb-src \1/p' /etc/apt/sources.list | $SUDO tee /etc/apt/sources.list.d/mabert-deb-src.list >/dev/null
    fi
    $SUDO apt-get update -q
  fi
  log "fetching the source package sentencepiece=$VERSION"
  (cd "$WORK" && apt-get source -q "sentencepiece=$VERSION")
  echo "$VERSION" > "$WORK/.version"
  src="$(find "$WORK" -maxdepth 1 -type d -name 'sentencepiece-*' | head -1)"
fi

# Debian's packaging drops the upstream static targets (debian/patches/disable-static-library.patch):
# take that one patch back out. Everything else (the bundled protobuf-lite included) stays upstream's.
if ! grep -q 'add_library(sentencepiece-static STATIC' "$src/src/CMakeLists.txt"; then
  log "restoring the upstream static library targets"
  patch -d "$src" -R -p1 -s < "$src/debian/patches/disable-static-library.patch"
fi
log "building static libraries from $src"
cmake -S "$src" -B "$WORK/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPM_ENABLE_SHARED=OFF \
  -DSPM_ENABLE_TCMALLOC=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DCMAKE_INSTALL_PREFIX="$PREFIX" \
  -DCMAKE_INSTALL_LIBDIR=lib >/dev/null
if ! cmake --build "$WORK/build" -j"$(nproc)" --target sentencepiece-static sentencepiece_train-static > "$WORK/build.log" 2>&1; then
  tail -30 "$WORK/build.log"
  echo "building SentencePiece failed (log: $WORK/build.log)" >&2
  exit 1
fi
mkdir -p "$PREFIX/lib" "$PREFIX/include"
cp "$WORK/build/src/libsentencepiece.a" "$WORK/build/src/libsentencepiece_train.a" "$PREFIX/lib/"
cp "$src/src/sentencepiece_processor.h" "$src/src/sentencepiece_trainer.h" "$PREFIX/include/"

# Every global the archives define, renamed in definitions and references alike.
syms="$(nm --defined-only -g "$PREFIX"/lib/*.a 2>/dev/null | awk 'NF == 3 && $2 ~ /[BDRV]/ {print $3}' | grep '^FLAGS_' | sort -u || true)"
args=()
for s in $syms; do args+=(--redefine-sym "$s=mabert_spm_$s"); done
if [ ${#args[@]} -gt 0 ]; then
  log "renaming its exported flags: $(echo $syms)"
  for a in "$PREFIX"/lib/*.a; do objcopy "${args[@]}" "$a"; done
fi
echo "$VERSION" > "$STAMP"
log "installed into $PREFIX"
