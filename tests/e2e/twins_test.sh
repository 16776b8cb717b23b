#!/bin/sh
# End-to-end accuracy of what keeps relatives apart (README, "Twins and
# households"): on bench-gen's registries (twins with consecutive SSNs,
# couples, juniors and seniors, English given names for Chinese and
# Vietnamese people, duplicates inside every registry), bench/bench.yaml
# against the same config without its contexts and cannot_link rule. The
# contexts must keep most twins apart, cut the false pairs within each
# registry, and cost no name culture more than 0.003 of B-cubed F1.
# Usage: tests/e2e/twins_test.sh /abs/path/to/dovetail /abs/path/to/bench-gen \
#        /abs/path/to/bench-score
# Ends with "twins: N passed, N failed".
set -u
DT=$1 GEN=$2 SCORE=$3
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-twins.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$HERE/lib.sh"

"$GEN" --seed 3 --people 30000 --out "$T/g" >/dev/null || bad "bench-gen runs"
sed "s|DATA/|$T/g/|g" "$ROOT/bench/bench.yaml" >"$T/with.yaml"
# Without: no model contexts, no cannot_link rule (exclusive SSN stays).
awk '/^  contexts:/ { skip = 1; next }
     /^  context_cannot_link:/ { next }
     /^  cannot_link:/ { skip = 1; next }
     skip && /^    / { next }
     skip && /^  #/ { next }
     { skip = 0; print }' "$T/with.yaml" >"$T/without.yaml"
grep -q 'contexts:' "$T/without.yaml" && bad "the config without contexts has none"
# Without m per surname (README, "Given names that differ"), all else kept.
grep -v '^    m_by_value:' "$T/with.yaml" >"$T/nomby.yaml"
grep -q 'm_by_value' "$T/nomby.yaml" && bad "the config without m_by_value has none"

for v in with without nomby; do
    "$DT" link -q --config "$T/$v.yaml" --out "$T/$v" 2>"$T/$v.log" || bad "link ($v)" "$(tail -n 3 "$T/$v.log")"
    "$DT" eval --json --config "$T/$v.yaml" --out "$T/$v" >"$T/$v.eval" || bad "eval ($v)"
    "$SCORE" --truth "$T/g/truth.csv" --relations "$T/g/relations.csv" \
        --entities "$T/$v/entities.csv" >"$T/$v.score" || bad "bench-score ($v)"
done
tr -d ' \n' <"$T/with/model.json" >"$T/model.flat"
# keys are sorted: a context's name comes after its comparisons and lambda
python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["contexts"]; sys.exit([x["name"] for x in c] != ["twins", "household"])' "$T/with/model.json" \
    && ok "model.json holds each context's model" || bad "model.json names the contexts"

# "twin": {"pairs": N, "merged": M, "merged_share": x}
share() { sed -n "s/.*\"$1\": {\"pairs\": [0-9]*, \"merged\": [0-9]*, \"merged_share\": \([0-9.]*\)}.*/\1/p" "$2"; }
tw=$(share twin "$T/with.score") two=$(share twin "$T/without.score")
awk -v a="$tw" -v b="$two" 'BEGIN { exit !(a != "" && a <= 0.10 && a * 4 < b) }' \
    && ok "twins merged: $tw of twin pairs (without contexts: $two)" \
    || bad "twins merged $tw, without contexts $two: want <= 0.10 and a quarter of without"
pc=$(share parent_child "$T/with.score") pco=$(share parent_child "$T/without.score")
awk -v a="$pc" -v b="$pco" 'BEGIN { exit !(a != "" && a <= b) }' \
    && ok "juniors and seniors merged: $pc (without: $pco)" || bad "parent_child $pc > $pco"

grep -q '"m_by_value":{"given":{"field":"surname","ratios":{"' "$T/model.flat" \
    && ok "model.json holds the given name's m per surname" || bad "model.json has no m_by_value"
twm=$(share twin "$T/nomby.score")
awk -v a="$tw" -v b="$twm" 'BEGIN { exit !(a != "" && b != "" && a <= b) }' \
    && ok "twins merged with m per surname $tw, without $twm" \
    || bad "m per surname merged more twins: $tw against $twm"

# explain says when the given name's m is its surname's: among review pairs
# that share a surname, the first whose surname the model kept.
said=
for pair in $(sed 's/"[^"]*"/R/' "$T/with/review.csv" |
              awk -F, 'NR > 1 && $10 == "exact" && $8 != "null" { print $1 ":" $2 "," $3 ":" $4 }' |
              head -n 40); do
    "$DT" explain --config "$T/with.yaml" --out "$T/with" "${pair%,*}" "${pair#*,}" \
        >"$T/explain.txt" 2>/dev/null || continue
    if grep -q '^given .*, m x[0-9.e-]* for this surname' "$T/explain.txt"; then said=$pair; break; fi
done
[ -n "$said" ] && ok "explain names the surname's m ($said)" \
    || bad "explain never said the given name's m came from the surname"

# Per culture and per registry, from eval --json (one key per line is not
# guaranteed: read the numbers after each name).
num() { tr -d '\n ' <"$3" | sed -n "s/.*\"$1\":{[^}]*\"$2\":\([0-9.]*\).*/\1/p"; }
for g in english spanish chinese vietnamese indian arabic; do
    a=$(num "$g" bcubed_f1 "$T/with.eval") b=$(num "$g" bcubed_f1 "$T/without.eval")
    awk -v a="$a" -v b="$b" 'BEGIN { exit !(a != "" && b != "" && a >= b - 0.003) }' \
        && ok "$g names: B-cubed F1 $a (without contexts $b)" \
        || bad "$g names lose more than 0.003 of B-cubed F1: $a against $b"
    c=$(num "$g" bcubed_f1 "$T/nomby.eval")
    awk -v a="$a" -v c="$c" 'BEGIN { exit !(a != "" && c != "" && a >= c - 0.003) }' \
        && ok "$g names: B-cubed F1 $a (without m per surname $c)" \
        || bad "$g names lose more than 0.003 of B-cubed F1 to m per surname: $a against $c"
done
for s in benefits earners health; do
    a=$(num "$s" precision "$T/with.eval") b=$(num "$s" precision "$T/without.eval")
    awk -v a="$a" -v b="$b" 'BEGIN { exit !(a != "" && a >= 0.95 && a > b) }' \
        && ok "$s~$s precision $a (without contexts $b)" \
        || bad "$s~$s precision $a (without $b): want >= 0.95 and better"
done
a=$(tr -d '\n ' <"$T/with.eval" | sed -n 's/^{"records":[0-9]*,.*"f1":\([0-9.]*\),"cross_precision".*/\1/p')
b=$(tr -d '\n ' <"$T/without.eval" | sed -n 's/^{"records":[0-9]*,.*"f1":\([0-9.]*\),"cross_precision".*/\1/p')
awk -v a="$a" -v b="$b" 'BEGIN { exit !(a != "" && a > b && a >= 0.98) }' \
    && ok "pairwise F1 $a (without contexts $b)" || bad "pairwise F1 $a, without $b"

echo "twins: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
