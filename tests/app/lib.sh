# Sourced by the CLI tests: a scratch folder $W (removed on exit) with its own run registry, and
# the reporting every test uses — ok/bad print a line each, bad marks the test failed (`exit
# $fail` at the end), run keeps a command's output in $W/out and $W/err and shows the error's
# tail when it fails.
set -u
W="$(mktemp -d)"; trap 'rm -rf "$W"' EXIT
export MABERT_REGISTRY="$W/runs.db"
fail=0
ok()  { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
run() { "$@" >"$W/out" 2>"$W/err" || { echo "command failed: $*"; tail -20 "$W/err"; return 1; }; }
