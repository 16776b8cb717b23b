#!/bin/sh
# Two things a new user meets first:
#   - every example config links without an "m <= u" warning, and where
#     such a warning shows (FEBRL 3 with two levels added back) it says what
#     to change: remove or tighten the level, naming comparison and config;
#   - tests/check-summary, which ends make check, adds up every "NAME: N
#     passed, M failed" line of a log into "check: N passed, M failed", and
#     fails when anything failed or make itself did.
# Usage: tests/e2e/usable_test.sh /abs/path/to/dovetail
# Ends with "usable: N passed, N failed".
set -u
DT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-usable.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$HERE/lib.sh"

# ---- the examples run without m <= u warnings ---------------------------
for c in $(grep -l '^sources:' "$ROOT"/examples/*.yaml); do # link configs, not policies
    name=$(basename "$c" .yaml)
    (cd "$ROOT" && "$DT" link -q --config "examples/$name.yaml" --out "$T/$name" 2>"$T/$name.err")
    rc=$?
    [ $rc -eq 0 ] && ok "examples/$name.yaml links" || bad "examples/$name.yaml links" "rc=$rc $(tail -n 3 "$T/$name.err")"
    grep '<= u (' "$T/$name.err" >"$T/$name.mu"
    [ -s "$T/$name.mu" ] && bad "examples/$name.yaml: no m <= u warning" "$(head -n 1 "$T/$name.mu")" ||
        ok "examples/$name.yaml: no m <= u warning"
done

# ---- and where one shows, it says what to change --------------------------
# FEBRL 3 with two levels back: swapped day and month (no match has one)
# and shared address words (commoner among non-matches).
sed -e "s|\.\./\.\./shared/data/|$ROOT/../shared/data/|" \
    -e '/field: dob$/,/levels:/ s/levels: \[\(.*\)\]$/levels: [\1, swap_day_month]/' \
    -e '/field: address_1$/,/levels:/ s/levels: \[\(.*\)\]$/levels: [\1, token_overlap]/' \
    "$ROOT/examples/febrl3.yaml" >"$T/levels.yaml"
"$DT" link -q --config "$T/levels.yaml" --out "$T/levels" 2>"$T/levels.err" || bad "febrl3 with more levels links"
w=$(grep "level 'swap_day_month' has m" "$T/levels.err")
case $w in
*"no match in training agreed at this level"*"remove 'swap_day_month' from the levels of comparison 'dob' in $T/levels.yaml"*)
    ok "a level no match agreed at: the warning says to remove it, naming comparison and config" ;;
*) bad "a level no match agreed at: the warning says to remove it, naming comparison and config" "$w" ;;
esac
w=$(grep "level 'token_overlap' has m" "$T/levels.err" | head -n 1)
case $w in
*"non-matches agree at this level more often"*"make 'token_overlap' stricter or remove it from the levels of comparison 'address_1' in $T/levels.yaml"*)
    ok "a level non-matches agree at more: the warning says to tighten or remove it" ;;
*) bad "a level non-matches agree at more: the warning says to tighten or remove it" "$w" ;;
esac

# ---- check-summary adds up every family's line ---------------------------
summary() { sh "$ROOT/tests/check-summary" "$@" 2>&1; }
printf '%s\n' "unit: 12 passed, 0 failed" "ok    something" "fuzz: 40 passed, 0 failed" \
    "e2e: 7 passed, 0 failed" "some-new_test: 3 passed, 0 failed" >"$T/pass.log"
out=$(summary "$T/pass.log" 0); rc=$?
[ "$out" = "check: 62 passed, 0 failed" ] && [ $rc -eq 0 ] && ok "check-summary adds every NAME: line" ||
    bad "check-summary adds every NAME: line" "rc=$rc '$out'"
printf '%s\n' "unit: 12 passed, 1 failed" "store: 5 passed, 2 failed" "FAIL  x: 1 passed, 1 failed (not a total)" \
    >"$T/fail.log"
out=$(summary "$T/fail.log" 2); rc=$?
[ "$out" = "check: 17 passed, 3 failed" ] && [ $rc -eq 1 ] && ok "check-summary counts failures and exits 1" ||
    bad "check-summary counts failures and exits 1" "rc=$rc '$out'"
out=$(summary "$T/pass.log" 2); rc=$?
[ "$out" = "check: 62 passed, 1 failed" ] && [ $rc -eq 1 ] && ok "a failed make with no failed test is one failure" ||
    bad "a failed make with no failed test is one failure" "rc=$rc '$out'"
: >"$T/empty.log"
out=$(summary "$T/empty.log" 0); rc=$?
[ "$out" = "check: 0 passed, 1 failed" ] && [ $rc -eq 1 ] && ok "a log with no test line fails" ||
    bad "a log with no test line fails" "rc=$rc '$out'"

echo "usable: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
