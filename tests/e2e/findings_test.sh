#!/bin/sh
# End-to-end findings (README, "Findings"): `dovetail link --findings` on
# bench-gen's registries with bench/bench.yaml, scored by bench-findings
# against the planted findings; the outputs' shape and modes; the same
# bytes for any thread count; a config without findings: refused; a config
# without deaths: the death rules say they did not run.
# Usage: tests/e2e/findings_test.sh /abs/path/to/dovetail /abs/path/to/bench-gen \
#        /abs/path/to/bench-findings
# Ends with "findings: N passed, N failed".
set -u
DT=$1 GEN=$2 FSCORE=$3
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-findings.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$HERE/lib.sh"

"$GEN" --seed 4 --people 30000 --out "$T/g" >/dev/null || bad "bench-gen runs"
sed "s|DATA/|$T/g/|g" "$ROOT/bench/bench.yaml" >"$T/c.yaml"
"$DT" link -q --findings --pairs none --config "$T/c.yaml" --out "$T/o1" --threads 1 \
    2>"$T/o1.log" || bad "link --findings" "$(tail -n 3 "$T/o1.log")"
"$DT" link -q --findings --pairs none --config "$T/c.yaml" --out "$T/o2" --threads 2 \
    2>"$T/o2.log" || bad "link --findings, 2 threads"
cmp -s "$T/o1/findings.csv" "$T/o2/findings.csv" && cmp -s "$T/o1/findings.json" "$T/o2/findings.json" \
    && ok "the same findings with 1 and 2 threads" || bad "findings differ with the thread count"

head -n 1 "$T/o1/findings.csv" | grep -q '^finding_id,rule,rule_version,state,confidence,entity_id,other_entity_id,records,identifier,date,events,amount,detail$' \
    && ok "findings.csv header" || bad "findings.csv header" "$(head -n 1 "$T/o1/findings.csv")"
[ "$(stat -c %a "$T/o1/findings.csv")" = 600 ] && [ "$(stat -c %a "$T/o1/findings.json")" = 600 ] \
    && ok "findings files are 0600" || bad "findings files mode $(stat -c %a "$T/o1/findings.csv")"
awk -F, 'NR > 1 && $4 != "open" && $4 != "needs-review" { bad = 1 } END { exit bad }' \
    "$T/o1/findings.csv" && ok "every finding is open or needs-review, none final" \
    || bad "a finding in another state"
grep -q '"links": \[' "$T/o1/findings.json" && grep -q '"probability": ' "$T/o1/findings.json" \
    && ok "findings.json carries the links and their probabilities" || bad "no links in findings.json"
grep -q '"rule_version": 1' "$T/o1/findings.json" && grep -q '"model_version": "M[0-9a-f]\{16\}"' "$T/o1/findings.json" \
    && ok "each finding names its rule's version and the model's" || bad "no rule or model version"
grep -q 'findings:.*payment_after_death [0-9]' "$T/o1.log" || grep -q 'payment_after_death [0-9]' "$T/o1.log" \
    && ok "the summary counts findings per rule" || bad "no per-rule summary" "$(tail -n 3 "$T/o1.log")"

"$FSCORE" "$T/g/findings_truth.csv" "$T/o1/findings.csv" >"$T/score.json" || bad "bench-findings runs"
for rule in payment_after_death death_contradicted duplicate_enrollment shared_identifier; do
    p=$(sed -n "s/.*\"$rule\": {[^}]*\"precision\": \([0-9.]*\).*/\1/p" "$T/score.json")
    r=$(sed -n "s/.*\"$rule\": {[^}]*\"recall\": \([0-9.]*\).*/\1/p" "$T/score.json")
    op=$(sed -n "s/.*\"$rule\": {[^}]*\"open_precision\": \([0-9.]*\).*/\1/p" "$T/score.json")
    # shared_identifier: a typo that lands on another person's SSN looks the
    # same as sharing when one holder has it on one record; those are
    # needs-review, so its bar is on the open ones (README, "Findings").
    want=0.95
    [ "$rule" = shared_identifier ] && want=0.6
    awk -v p="$p" -v r="$r" -v op="$op" -v w="$want" \
        'BEGIN { exit !(p != "" && p >= w && r >= 0.90 && op >= 0.97) }' \
        && ok "$rule: precision $p, recall $r, open precision $op" \
        || bad "$rule: precision $p recall $r open precision $op (want >= $want, 0.90, 0.97)"
done

# A config without findings: is refused by --findings, and nothing is run.
awk '/^findings:/ { skip = 1 } !skip { print }' "$T/c.yaml" >"$T/none.yaml"
"$DT" link -q --findings --config "$T/none.yaml" --out "$T/o3" 2>"$T/o3.log"
[ $? -ne 0 ] && grep -q 'no findings: section' "$T/o3.log" \
    && ok "--findings without findings: is refused" || bad "--findings without findings:" "$(cat "$T/o3.log")"
# Without death:, the death rules do not run, and say why.
grep -v '^  death:' "$T/c.yaml" >"$T/nodeath.yaml"
"$DT" link -q --findings --pairs none --config "$T/nodeath.yaml" --out "$T/o4" 2>"$T/o4.log" \
    || bad "link --findings without death:" "$(tail -n 3 "$T/o4.log")"
grep -q 'rule payment_after_death did not run: findings: death is not declared' "$T/o4.log" \
    && ! grep -q '^[^,]*,death_contradicted,' "$T/o4/findings.csv" \
    && grep -q ',duplicate_enrollment,' "$T/o4/findings.csv" \
    && ok "without death: the death rules say they did not run; the others do" \
    || bad "without death:" "$(grep -i 'did not run' "$T/o4.log")"

echo "findings: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
