#!/bin/sh
# End-to-end tests of limits and clear errors, on FEBRL dataset4 (the first
# 300 originals, their duplicates, and one record whose id holds ESC [2J):
#   - a policy over 1 MiB or 1000 purposes, a YAML file nested past 64
#     levels, a nickname file over 8 MiB: refused at once, naming file,
#     line and column;
#   - a policy field that is not a column, an expiry already past: refused;
#     policies stored before these checks still load (over the limits:
#     allowing nothing, unparsed);
#   - resolve refuses a key that is not a column, a NUL, an impossible date;
#   - a lapsed agreement is reported of the source asked about;
#   - control characters from data never reach the terminal raw;
#   - export of a purpose no policy names fails; explain --json is JSON;
#     link --out into a place it cannot write fails before the run.
# Usage: tests/e2e/limits_test.sh /abs/path/to/dovetail
# Ends with "limits: N passed, N failed". Needs jq, the sqlite3 shell,
# /usr/bin/time and a test build of dovetail (DOVETAIL_TEST_NOW).
set -u
DT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DATA=$ROOT/../shared/data/febrl
T=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-limits.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$HERE/govern_lib.sh"
. "$HERE/lib.sh"
ESC=$(printf '\033')
S=$T/s.db
# no_esc FILE: FILE holds no raw ESC byte
no_esc() { ! grep -q "$ESC" "$1"; }

# ---- a small FEBRL store -------------------------------------------------------------
head -n 301 "$DATA/dataset4a.csv" >"$T/a.csv"
printf 'rec-\033[2J-9999-org, evil, neumann, 9, stanley street, miami, winston hills, 4223, nsw, 19151111, 5304219\n' >>"$T/a.csv"
awk -F, 'NR == FNR { split($1, p, "-"); seen[p[2]] = 1; next }
         FNR == 1 { print; next } { split($1, p, "-"); if (seen[p[2]]) print }' \
    "$T/a.csv" "$DATA/dataset4b.csv" >"$T/b.csv"
sed -e "s|path: .*dataset4a.csv|path: $T/a.csv|" -e "s|path: .*dataset4b.csv|path: $T/b.csv|" \
    "$ROOT/examples/febrl4.yaml" >"$T/cfg.yaml"
gv_setup "$S" "$T/cfg.yaml" || bad "governed store" "setup failed"
as steward "$S" ingest -q --source a "$T/a.csv" 2>/dev/null
as steward "$S" ingest -q --source b "$T/b.csv" 2>/dev/null
as admin "$S" train -q 2>/dev/null || bad "train" "failed"
bad_token() { # an export with a bad token; sets rc and ms, its CPU time (user + system)
    DOVETAIL_TOKEN=dt_bad /usr/bin/time -f '%U %S' -o "$T/time" "$DT" export --store "$S" \
        --purpose test --out "$T/x.csv" 2>"$T/err"
    rc=$?
    ms=$(awk 'END { printf "%d", ($1 + $2) * 1000 }' "$T/time") # after "Command exited..."
}
set_policy() { # source file [test clock]
    DOVETAIL_TOKEN=$(cat "$S.steward") DOVETAIL_TEST_NOW=${3:-} "$DT" policy set --source "$1" \
        --store "$S" --purpose setup "$2" 2>"$T/err"
}
exp=$(date -u -d '+400 days' +%F)

# ---- policy size and purpose count ---------------------------------------------------
# the issue's policy: 50,000 allowed purposes, 4.2 MB
awk -v e="$exp" 'BEGIN { print "purposes:"; for (i = 0; i < 50000; i++)
    printf "  p%d:\n    allowed: true\n    agreement: CMA-2026-014\n    expires: %s\n    fields: [surname, given_name]\n", i, e }' \
    >"$T/huge.yaml"
set_policy a "$T/huge.yaml"; rc=$?
[ $rc -eq 1 ] && grep -q "huge.yaml: over 1048576 bytes, the limit for a policy (DT_ELIMIT)" "$T/err" \
    && ok "a 4.2 MB policy is refused by its size" || bad "policy size" "rc=$rc $(cat "$T/err")"
awk 'BEGIN { print "purposes:"; for (i = 0; i < 1001; i++) printf "  p%d: {allowed: false}\n", i }' >"$T/many.yaml"
set_policy a "$T/many.yaml"; rc=$?
[ $rc -eq 1 ] && grep -q "many.yaml:2:3: a policy names at most 1000 purposes; this one names 1001" "$T/err" \
    && ok "1001 purposes are refused, at 'purposes'" || bad "purpose count" "rc=$rc $(cat "$T/err")"
awk -v e="$exp" 'BEGIN { print "purposes:"; for (i = 0; i < 999; i++)
    printf "  p%d:\n    allowed: true\n    agreement: CMA-2026-014\n    expires: %s\n    fields: [surname, given_name]\n", i, e
    printf "  test:\n    allowed: true\n    agreement: T-1\n    expires: %s\n    fields: all\n    link_with: all\n", e }' \
    >"$T/max.yaml"
set_policy a "$T/max.yaml" && set_policy b "$T/max.yaml" && ok "1000 purposes are allowed" \
    || bad "1000 purposes" "$(cat "$T/err")"
bad_token  # the CPU time, as the machine may be busy
[ $rc -eq 1 ] && grep -q DT_EAUTH "$T/err" && [ "$ms" -lt 2000 ] \
    && ok "a bad token under 1000-purpose policies is refused in ${ms} ms of CPU" \
    || bad "bad token, big policies" "rc=$rc ${ms} ms $(cat "$T/err")"

# policies stored before these checks (put in by hand, as an older dovetail
# could have): one over the limits allows nothing and costs no request its
# parse; one naming a column that is not one still loads; both are replaced
legacy() { # source file: the next version of the source's policy, unchecked
    sqlite3 "$S" "INSERT INTO policy(source, version, text, set_by, time)
                  SELECT s.id, (SELECT max(version) + 1 FROM policy WHERE source = s.id),
                         CAST(readfile('$2') AS TEXT), 'legacy', 0 FROM source s WHERE s.name = '$1'"
}
legacy a "$T/huge.yaml"
bad_token
[ $rc -eq 1 ] && grep -q DT_EAUTH "$T/err" && [ "$ms" -lt 2000 ] \
    && ok "a bad token under a stored 4.2 MB policy is refused in ${ms} ms of CPU" \
    || bad "bad token, stored huge policy" "rc=$rc ${ms} ms $(cat "$T/err")"
as analyst "$S" export --out "$T/x.csv" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && grep -q "source 'a': its policy (version [0-9]*) is over 1048576 bytes or 1000 purposes, so it allows nothing" "$T/err" \
    && [ "$(grep -c '^a,' "$T/x.csv")" = 0 ] && [ "$(grep -c '^b,' "$T/x.csv")" -gt 0 ] \
    && ok "a stored policy over the limits allows nothing, and says so" || bad "stored huge policy" "rc=$rc $(cat "$T/err")"
gv_policy test "$exp" "[surname, dob]" all >"$T/dob.yaml"
legacy b "$T/dob.yaml"
as analyst "$S" export --out "$T/x.csv" 2>"$T/err" && [ "$(grep -c '^b,' "$T/x.csv")" -gt 0 ] \
    && set_policy a "$T/max.yaml" && set_policy b "$T/max.yaml" \
    && ok "a stored policy naming a column that is not one still loads; both are replaced" \
    || bad "legacy policies" "$(cat "$T/err")"

# ---- nesting and the nickname file ---------------------------------------------------
awk 'BEGIN { printf "fields: "; for (i = 0; i < 100000; i++) printf "["; for (i = 0; i < 100000; i++) printf "]"; print "" }' \
    >"$T/deep.yaml"
"$DT" link --config "$T/deep.yaml" --out "$T/deep" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "deep.yaml:1:72: nested more than 64 levels deep (DT_ECONFIG)" "$T/err" \
    && ok "a config nested 100,000 deep is refused where it passes 64" || bad "deep config" "rc=$rc $(cat "$T/err")"
{ printf 'purposes:\n  test:\n    allowed: true\n    agreement: T-1\n    expires: %s\n    fields: ' "$exp"
  awk 'BEGIN { for (i = 0; i < 100; i++) printf "["; for (i = 0; i < 100; i++) printf "]"; print "" }'; } >"$T/deep-policy.yaml"
set_policy a "$T/deep-policy.yaml"; rc=$?
[ $rc -eq 1 ] && grep -q "deep-policy.yaml:6:74: nested more than 64 levels deep" "$T/err" \
    && ok "a policy nested too deep is refused, by line and column" || bad "deep policy" "rc=$rc $(cat "$T/err")"
yes "$(printf 'william\tbill,will')" | head -c 9000000 >"$T/nicks.tsv"
{ cat "$T/cfg.yaml"; echo "nicknames: $T/nicks.tsv"; } >"$T/nick.yaml"
"$DT" link -q --config "$T/nick.yaml" --out "$T/nick" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "nicks.tsv: over 8388608 bytes, the limit for a nickname file (DT_ELIMIT)" "$T/err" \
    && ok "a 9 MB nickname file is refused, by name" || bad "nickname size" "rc=$rc $(cat "$T/err")"

# ---- policy fields and expiry --------------------------------------------------------
set_policy a "$T/dob.yaml"; rc=$?
[ $rc -eq 1 ] && grep -q "dob.yaml:6:23: fields: 'dob' is not a column of source 'a' (its columns: rec_id, given_name, surname, date_of_birth," "$T/err" \
    && ok "a policy field that is not a column is refused, the columns listed" || bad "policy field" "rc=$rc $(cat "$T/err")"
gv_policy test "$(date -u -d '-1 day' +%F)" all all >"$T/past.yaml"
set_policy a "$T/past.yaml"; rc=$?
[ $rc -eq 1 ] && grep -q "past.yaml:5:14: expires .* has passed" "$T/err" \
    && ok "an expiry already past is refused" || bad "past expiry" "rc=$rc $(cat "$T/err")"

# ---- a lapsed agreement names its own source -----------------------------------------
for s in a b; do
    { gv_policy test "$(date -u -d '+700 days' +%F)" all all
      printf '  old:\n    allowed: true\n    agreement: OLD-%s\n    expires: %s\n    fields: all\n    link_with: all\n' \
          "$s" "$([ $s = a ] && echo 2027-01-31 || echo 2027-02-15)"; } >"$T/old-$s.yaml"
    set_policy $s "$T/old-$s.yaml" 2026-11-01 || bad "policy old-$s" "$(cat "$T/err")"
done
REC='{"rec_id": "q-1", "given_name": "michaela", "surname": "neumann", "street_number": "8", "address_1": "stanley street", "suburb": "winston hills", "postcode": "4223", "state": "nsw", "date_of_birth": "19151111", "soc_sec_id": "5304218"}'
printf '%s' "$REC" | DOVETAIL_TOKEN=$(cat "$S.analyst") DOVETAIL_TEST_NOW=2027-03-01 "$DT" resolve \
    --store "$S" --purpose old --source b >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "source 'b': agreement OLD-b for purpose 'old' expired after 2027-02-15" "$T/err" \
    && ok "resolve on a lapsed source names that source" || bad "lapse names the source" "rc=$rc $(cat "$T/err")"

# ---- resolve: what the record holds --------------------------------------------------
resolve() { as analyst "$S" resolve --source b >"$T/out" 2>"$T/err"; }
printf '%s' "$REC" | resolve && jq -e '.candidates[0].record_id == "rec-1070-org"' "$T/out" >/dev/null \
    && ok "resolve: a good record finds its original" || bad "resolve good" "$(cat "$T/err" "$T/out")"
printf '%s' "$REC" | sed 's/postcode/zipcode/' | resolve; rc=$?
[ $rc -eq 1 ] && grep -q "record field 'zipcode' is not a column of source 'b' (its columns: rec_id, .*postcode" "$T/err" \
    && ok "resolve: a misspelt key is refused, the columns listed" || bad "resolve zipcode" "rc=$rc $(cat "$T/err")"
printf '%s' "$REC" | sed 's/19151111/19900231/' | resolve; rc=$?
[ $rc -eq 1 ] && grep -q "record field 'date_of_birth': '19900231' is not a valid date (format YYYYMMDD)" "$T/err" \
    && ok "resolve: an impossible date is refused, by field" || bad "resolve date" "rc=$rc $(cat "$T/err")"
printf '%s' "$REC" | sed 's/"winston hills"/"winston\\u0000 hills"/' | resolve; rc=$?
[ $rc -eq 1 ] && grep -q "record field 'suburb' holds a NUL character" "$T/err" \
    && ok "resolve: a \\u0000 is refused, by field" || bad "resolve \\u0000" "rc=$rc $(cat "$T/err")"
{ printf '%s' "$REC"; printf '\000{"surname": "x"}'; } | resolve; rc=$?
[ $rc -eq 1 ] && grep -q "the record holds a NUL byte" "$T/err" \
    && ok "resolve: text after a NUL byte is not ignored" || bad "resolve NUL byte" "rc=$rc $(cat "$T/err")"

# ---- control characters from data ---------------------------------------------------
EVIL="a:rec-${ESC}[2J-9999-org"
as analyst "$S" explain "$EVIL" b:rec-1070-dup-0 >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && no_esc "$T/out" && grep -q 'A: a:rec-\\x1b\[2J-9999-org' "$T/out" \
    && ok "explain prints a record id's ESC as \\x1b" || bad "explain escapes" "rc=$rc $(cat "$T/err")"
as analyst "$S" explain "a:nope-${ESC}[2J" b:rec-1070-dup-0 >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && no_esc "$T/err" && grep -q 'nope-\\x1b\[2J' "$T/err" \
    && ok "an error quoting a record id escapes its ESC" || bad "error escapes" "rc=$rc $(cat "$T/err")"
as analyst "$S" export --out "$T/all.csv" 2>/dev/null
E=$(awk -F, '/9999-org/ { print $3 }' "$T/all.csv")
as analyst "$S" entity "$E" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && no_esc "$T/out" && grep -q 'a:rec-\\x1b\[2J-9999-org' "$T/out" \
    && ok "entity prints a record id's ESC as \\x1b" || bad "entity escapes" "rc=$rc E=$E $(cat "$T/err")"

# ---- export, explain --json, link --out ----------------------------------------------
DOVETAIL_TOKEN=$(cat "$S.analyst") "$DT" export --store "$S" --purpose nosuch --out "$T/none.csv" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "no source's policy allows purpose 'nosuch'" "$T/err" && [ ! -e "$T/none.csv" ] \
    && ok "export of a purpose no policy names fails, writing nothing" || bad "export nosuch" "rc=$rc $(cat "$T/err")"
as analyst "$S" explain --json a:rec-1070-org b:rec-1070-dup-0 >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && jq -e '.a == "a:rec-1070-org" and (.comparisons | length) == 10 and .probability > 0.9' "$T/out" >/dev/null \
    && ok "explain --json --store prints JSON" || bad "explain --json store" "rc=$rc $(cat "$T/err" "$T/out")"
"$DT" link -q --config "$T/cfg.yaml" --out "$T/run" 2>"$T/err" || bad "link" "$(cat "$T/err")"
"$DT" explain --json --config "$T/cfg.yaml" --out "$T/run" "$EVIL" b:rec-1070-dup-0 >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && jq -e '.a == "a:rec-\u001b[2J-9999-org" and (.comparisons[0] | has("weight"))' "$T/out" >/dev/null \
    && ok "explain --json on a link run prints JSON (ESC as \\u001b)" || bad "explain --json file" "rc=$rc $(cat "$T/err" "$T/out")"
: >"$T/file"
"$DT" link --config "$T/cfg.yaml" --out "$T/file/out" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "file/out: cannot create directory" "$T/err" \
    && ok "link --out where no folder can be made fails before the run" || bad "link --out" "rc=$rc $(cat "$T/err")"

# the policies put in by hand above are rows no logged change accounts for
DOVETAIL_TOKEN=$(cat "$S.auditor") "$DT" audit verify --store "$S" --purpose check >"$T/v" 2>&1; rc=$?
[ $rc -ne 0 ] && grep -q "policy" "$T/v" \
    && ok "audit verify fails, naming a policy row put in by hand" \
    || bad "audit verify" "rc=$rc $(cat "$T/v")"
printf 'limits: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
