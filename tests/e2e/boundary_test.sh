#!/bin/sh
# End-to-end tests of the boundary's structure:
#   - the CLI and the library's table of governed calls agree: every row
#     names a command the tool has, whose --help shows the row, and every
#     command that takes --purpose makes some governed call;
#   - scripts/check-layers fails on each kind of crossing it exists to catch
#     (planted in a scratch tree), and passes on a clean one.
# Usage: tests/e2e/boundary_test.sh /abs/path/to/dovetail
# Ends with "boundary: N passed, N failed".
set -u
DT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-boundary.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$HERE/lib.sh"

# ---- the table of calls and the CLI ------------------------------------------
"$DT" calls >"$T/calls" 2>"$T/err" && ok "dovetail calls: every row names a command the tool has" \
    || bad "calls" "$(cat "$T/err")"
[ "$(wc -l <"$T/calls")" -ge 20 ] && ok "$(wc -l <"$T/calls") governed calls listed" \
    || bad "calls count" "$(cat "$T/calls")"
"$DT" calls --json | while read -r line; do
    action=$(printf '%s' "$line" | sed 's/.*"action": "\([^"]*\)".*/\1/')
    cmd=$(printf '%s' "$line" | sed 's/.*"command": "\([a-z]*\).*/\1/')
    "$DT" "$cmd" --help 2>/dev/null | grep -q "^  $action " || echo "$action $cmd"
done >"$T/missing"
[ ! -s "$T/missing" ] && ok "each call is shown in its command's --help" \
    || bad "help lacks calls" "$(cat "$T/missing")"
"$DT" --help | awk '/^commands:/ { on = 1; next } on && NF { print $1 }' | while read -r cmd; do
    "$DT" "$cmd" --help 2>/dev/null | grep -q -- '--purpose' || continue
    "$DT" "$cmd" --help | grep -q '^governed calls' || echo "$cmd"
done >"$T/ungoverned"
[ ! -s "$T/ungoverned" ] && ok "every command that takes --purpose makes a governed call" \
    || bad "commands outside the table" "$(cat "$T/ungoverned")"
grep -q '^store.ingest  *write  *steward  *ingest' "$T/calls" \
    && grep -q '^entity.export  *read  *analyst,reviewer' "$T/calls" \
    && ok "rows say action, write/read, roles and command" || bad "row format" "$(head -n 3 "$T/calls")"

# ---- check-layers catches each kind of crossing ---------------------------------
# plant DIR/FILE with one include; check-layers run in DIR must fail (or pass)
plant() { mkdir -p "$(dirname "$1/$2")" && printf '#include "%s"\n' "$3" >"$1/$2"; }
layers_in() { (cd "$1" && sh "$ROOT/scripts/check-layers") >"$T/out" 2>&1; }
clean=$T/clean
plant "$clean" src/service/a.c "pipeline/pipeline.h"
plant "$clean" src/service/b.c "service/service_int.h"
plant "$clean" tests/unit/service/t.c "service/service_int.h"
plant "$clean" bench/x.c "service/service.h"
plant "$clean" tools/cli.c "dovetail.h"
layers_in "$clean" && ok "check-layers passes a clean tree" || bad "clean tree" "$(cat "$T/out")"
n=0
for case in "src/pipeline/p.c store/store.h" "src/block/b.c pipeline/pipeline.h" \
    "src/pipeline/q.c service/service_int.h" "src/findings/f.c govern/audit_int.h" \
    "tests/unit/io/t.c service/service_int.h" "bench/y.c service/service_int.h" \
    "tools/z.c util/util.h" "src/server/s.c service/service.h" "src/engine/e.c util/util.h"; do
    n=$((n + 1))
    set -- $case
    cp -r "$clean" "$T/bad$n"
    plant "$T/bad$n" "$1" "$2"
    if layers_in "$T/bad$n"; then bad "check-layers let $1 include $2"; else
        ok "check-layers refuses $1 including $2"; fi
done

echo "boundary: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
