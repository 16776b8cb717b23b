#!/bin/sh
# decisions_test.sh — `dovetail link --decisions FILE`: people's decisions
# on pairs as constraints of a batch run ("same" joins, "different" keeps
# apart), the same result whatever the threads, and a file that is not
# a,b,decision refused naming its line.
#
# Usage: decisions_test.sh DOVETAIL
set -u
DT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-decisions.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$HERE/lib.sh"
CFG=$ROOT/examples/febrl4.yaml
entity() { awk -F, -v s="$2" -v r="$3" '$1 == s && $2 == r { print $3 }' "$1/entities.csv"; }

"$DT" link --config "$CFG" --out "$T/base" -q >/dev/null 2>&1 || bad "link without decisions"
[ "$(entity "$T/base" a rec-1016-org)" = "$(entity "$T/base" b rec-1016-dup-0)" ] \
    && [ "$(entity "$T/base" a rec-1070-org)" != "$(entity "$T/base" a rec-4405-org)" ] \
    && ok "without decisions: rec-1016's two records are one entity, rec-1070 and rec-4405 two" \
    || bad "baseline"
printf 'a,b,decision\na:rec-1016-org,b:rec-1016-dup-0,different\na:rec-1070-org,a:rec-4405-org,same\n' >"$T/d.csv"
for n in 1 2; do
    "$DT" link --config "$CFG" --out "$T/d$n" --decisions "$T/d.csv" --threads $n -q >/dev/null 2>&1 \
        || bad "link --decisions, $n threads"
done
[ "$(entity "$T/d1" a rec-1016-org)" != "$(entity "$T/d1" b rec-1016-dup-0)" ] \
    && ok "'different' keeps a linked pair apart" || bad "different"
[ "$(entity "$T/d1" a rec-1070-org)" = "$(entity "$T/d1" a rec-4405-org)" ] \
    && ok "'same' joins two people's records" || bad "same"
cmp -s "$T/d1/entities.csv" "$T/d2/entities.csv" && ok "the same entities with 1 and 2 threads" \
    || bad "threads differ"
printf 'a,b,decision\na:rec-1016-org,b:rec-1016-dup-0,different\na:rec-1070-org,same\n' >"$T/bad.csv"
"$DT" link --config "$CFG" --out "$T/x" --decisions "$T/bad.csv" -q >"$T/out" 2>&1
[ $? -eq 1 ] && grep -q "bad.csv:3: not three fields" "$T/out" && ok "a row of two fields: exit 1 naming line 3" \
    || bad "bad row" "$(cat "$T/out")"
printf 'a,b,decision\na:rec-1016-org,b:rec-1016-dup-0,maybe\n' >"$T/bad2.csv"
"$DT" link --config "$CFG" --out "$T/x" --decisions "$T/bad2.csv" -q >"$T/out" 2>&1
[ $? -eq 1 ] && grep -q "bad2.csv:2: the decision is 'same' or 'different'" "$T/out" \
    && ok "a decision that is neither: exit 1 naming line 2" || bad "bad word" "$(cat "$T/out")"
printf 'x,y\n' >"$T/bad3.csv"
"$DT" link --config "$CFG" --out "$T/x" --decisions "$T/bad3.csv" -q >"$T/out" 2>&1
[ $? -eq 1 ] && grep -q "bad3.csv:1: the header is not a,b,decision" "$T/out" \
    && ok "a wrong header: exit 1 naming line 1" || bad "bad header" "$(cat "$T/out")"
echo "decisions: $passed passed, $failed failed"
[ "$failed" = 0 ]
