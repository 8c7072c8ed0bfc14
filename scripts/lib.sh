# The scripts' shared preamble, sourced first:  . "$(dirname "${BASH_SOURCE[0]}")/lib.sh" [TAG]
# Strict mode; ROOT, the repository; `log` with the script's tag (TAG, default its file name);
# `defaults NAME=VALUE ...` for settings the environment may override; `need_exec PATH HOW`;
# SUDO, empty when root.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_TAG="${1:-$(basename "$0" .sh)}"
log() { printf '\033[1m[%s]\033[0m %s\n' "$LOG_TAG" "$*"; }
# Each NAME keeps a non-empty value it has in the environment, else gets VALUE.
defaults() {
  local kv name
  for kv in "$@"; do
    name="${kv%%=*}"
    if [ -z "${!name:-}" ]; then printf -v "$name" '%s' "${kv#*=}"; fi
  done
}
# Stops the script unless PATH is an executable, saying HOW to get one.
need_exec() {
  if [ ! -x "$1" ]; then echo "$0: $1 is not an executable ($2)" >&2; exit 1; fi
}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# A corpus of SIZE_MB made of whole copies of the files of SOURCE (*.txt, *.tokens, *.raw), each
# copy in its own folder so documents stay documents (the shared corpus is ~8.4 MB a copy).
make_corpus() {  # SOURCE SIZE_MB DIR
  local want=$(( $2 * 1000 * 1000 )) have=0 copy=0
  rm -rf "$3"; mkdir -p "$3"
  while [ "$have" -lt "$want" ]; do
    mkdir -p "$3/copy-$copy"
    find "$1" -type f \( -name '*.txt' -o -name '*.tokens' -o -name '*.raw' \) -exec cp {} "$3/copy-$copy/" \;
    have=$(du -sb "$3" | cut -f1)
    copy=$((copy + 1))
  done
}
