# Sourced by tests/e2e/leaks_test.sh and bench/leaks: a store for timing
# resolve under a purpose that hides a source. Needs $DT (dovetail) and
# govern_lib.sh.
#
# lk_timing_store DIR N_HIDDEN: in DIR, sources a (visible) and b (hidden
# under purpose "view"; every purpose "test"), linked with a model from a
# batch run. Probe 1 (DIR/p1.json, of source a) has surname HEAVY: its block
# holds N_HIDDEN records of b and 20 of a; probe 2 (DIR/p2.json) has
# surname LIGHT: 20 of a and none of b. Neither probe matches any record,
# so both resolve to nothing and the visible work is the same. Tokens as
# gv_setup writes them (DIR/s.db.analyst, ...).
lk_timing_store() {
    _d=$1 _n=$2
    mkdir -p "$_d"
    # a: 20 HEAVY, 20 LIGHT, 300 people also in b (so the model has matches)
    awk 'BEGIN {
        print "id,given,surname,dob"
        for (i = 0; i < 20; i++) printf "h%d,ANNA%d,HEAVY,1950-01-%02d\n", i, i, i % 28 + 1
        for (i = 0; i < 20; i++) printf "l%d,ANNA%d,LIGHT,1950-01-%02d\n", i, i, i % 28 + 1
        for (i = 0; i < 300; i++) printf "m%d,GIVEN%d,SURNAME%d,19%02d-%02d-%02d\n", i, i, i, 30 + i % 60, i % 12 + 1, i % 28 + 1
    }' >"$_d/a.csv"
    # b: the same 300 people, and N_HIDDEN records in probe 1's block
    awk -v n="$_n" 'BEGIN {
        print "id,given,surname,dob"
        for (i = 0; i < 300; i++) printf "m%d,GIVEN%d,SURNAME%d,19%02d-%02d-%02d\n", i, i, i, 30 + i % 60, i % 12 + 1, i % 28 + 1
        for (i = 0; i < n; i++) printf "x%d,OTHER%d,HEAVY,20%02d-%02d-%02d\n", i, i, i % 20, i % 12 + 1, i % 28 + 1
    }' >"$_d/b.csv"
    cat >"$_d/ab.yaml" <<'EOF'
mode: link
fields:
  given: given_name
  surname: surname
  dob: date
sources:
  - name: a
    path: a.csv
    id: id
    columns: {given: given, surname: surname, dob: {column: dob, format: YYYY-MM-DD}}
  - name: b
    path: b.csv
    id: id
    columns: {given: given, surname: surname, dob: {column: dob, format: YYYY-MM-DD}}
blocking:
  max_block_pairs: 100000000
  rules:
    - [surname]
comparisons:
  - field: given
    levels: [exact, {jaro_winkler: 0.9}]
  - field: surname
    levels: [exact]
  - field: dob
    levels: [exact, same_year]
model:
  seed: 1
thresholds:
  link: 0.5
  review: 0.1
EOF
    "$DT" link -q --config "$_d/ab.yaml" --out "$_d/batch" 2>/dev/null || return 1
    gv_setup "$_d/s.db" "$_d/ab.yaml" || return 1
    _exp=$(date -u -d '+600 days' +%F)
    for _s in a b; do
        {
            printf 'purposes:\n  test:\n    allowed: true\n    agreement: T-1\n    expires: %s\n    fields: all\n    link_with: all\n' "$_exp"
            if [ "$_s" = a ]; then
                printf '  view:\n    allowed: true\n    agreement: V-1\n    expires: %s\n    fields: all\n    link_with: all\n' "$_exp"
            fi
        } >"$_d/$_s.policy.yaml"
        DOVETAIL_TOKEN=$(cat "$_d/s.db.steward") "$DT" policy set --source "$_s" --store "$_d/s.db" \
            --purpose setup "$_d/$_s.policy.yaml" >/dev/null 2>&1 || return 1
    done
    as admin "$_d/s.db" train --model "$_d/batch/model.json" 2>/dev/null || return 1
    for _s in a b; do as steward "$_d/s.db" ingest -q --source "$_s" "$_d/$_s.csv" 2>/dev/null || return 1; done
    echo '{"id": "p", "given": "QUERY", "surname": "HEAVY", "dob": "1971-07-07"}' >"$_d/p1.json"
    echo '{"id": "p", "given": "QUERY", "surname": "LIGHT", "dob": "1971-07-07"}' >"$_d/p2.json"
}
