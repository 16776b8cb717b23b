#!/bin/sh
# End-to-end tests that nothing leaks past a policy:
#   - under a purpose whose policies withhold a field, two probes that
#     differ only in that field get byte-identical resolve and explain
#     output (no weight, probability, total or blocking rule: a band);
#   - a steward's purge reports its own sources only; an admin's train logs
#     no record value; a failed export or witness write is logged "failed";
#   - resolve under a purpose takes no longer when the probe's block holds
#     thousands of records it may not see (bench-leaks, medians' ratio).
# Usage: tests/e2e/leaks_test.sh /abs/path/to/dovetail /abs/path/to/bench-gen /abs/path/to/bench-leaks
# Ends with "leaks: N passed, N failed". Needs the sqlite3 shell and a test
# build of dovetail (DOVETAIL_TEST_NOW).
set -u
DT=$1
GEN=$2
LEAKS=$3
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-leaks.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$HERE/govern_lib.sh"
. "$HERE/leaks_lib.sh"
. "$HERE/lib.sh"

# ---- a store of five registries; purpose lk withholds birth dates -----------------
G=$T/gen
"$GEN" --seed 5 --people 400 --out "$G" >/dev/null 2>&1
sed "s|DATA/|$G/|g" "$ROOT/bench/bench.yaml" >"$T/all.yaml"
"$DT" link -q --config "$T/all.yaml" --out "$T/batch" 2>/dev/null
S=$T/s.db
gv_setup "$S" "$T/all.yaml" || bad "governed store" "setup failed"
as admin "$S" train --model "$T/batch/model.json" 2>/dev/null
for s in deaths benefits; do as steward "$S" ingest -q --source "$s" "$G/$s.csv" 2>/dev/null; done
exp=$(date -u -d '+600 days' +%F)
policy() { # source lk-fields [retention_days]
    {
        [ -n "${3:-}" ] && printf 'retention_days: %s\n' "$3"
        printf 'purposes:\n  test:\n    allowed: true\n    agreement: T-1\n    expires: %s\n    fields: all\n    link_with: all\n' "$exp"
        printf '  lk:\n    allowed: true\n    agreement: LK-1\n    expires: %s\n    fields: %s\n    link_with: all\n' "$exp" "$2"
    } >"$T/$1.policy.yaml"
    DOVETAIL_TOKEN=$(cat "$S.steward") "$DT" policy set --source "$1" --store "$S" --purpose setup \
        "$T/$1.policy.yaml" >/dev/null 2>"$T/err" || bad "policy set $1" "$(cat "$T/err")"
}
policy deaths "[death_id, decedent, ssn, zip]"
policy benefits "[enrollment_id, FIRST_NAME, MIDDLE_NAME, LAST_NAME, SSN, ZIP]"
lk() { _c=$1; shift; DOVETAIL_TOKEN=$(cat "$S.analyst") "$DT" "$_c" --store "$S" --purpose lk "$@"; }

# ---- withheld fields: resolve ---------------------------------------------------------
# The first benefits row, as record.json, with its DOB as stored or another.
row=$(sed -n 2p "$G/benefits.csv")
rid=${row%%,*}
probe() { # id dob
    echo "$row" | awk -F, -v id="$1" -v dob="$2" '{
        printf "{\"enrollment_id\": \"%s\", \"FIRST_NAME\": \"%s\", \"MIDDLE_NAME\": \"%s\", \"LAST_NAME\": \"%s\", \"DOB\": \"%s\", \"SSN\": \"%s\", \"ZIP\": \"%s\"}\n", id, $2, $3, $4, dob, $6, $7 }'
}
dob=$(echo "$row" | cut -d, -f5)
probe P "$dob" | lk resolve --source benefits >"$T/r1" 2>"$T/err" || bad "resolve under lk" "$(cat "$T/err")"
probe P 02/03/1901 | lk resolve --source benefits >"$T/r2" 2>"$T/err" || bad "resolve under lk" "$(cat "$T/err")"
grep -q "\"record_id\": \"$rid\"" "$T/r1" && cmp -s "$T/r1" "$T/r2" \
    && ok "resolve: probes differing only in a withheld field read the same, byte for byte" \
    || bad "resolve: withheld field changes the output" "$(diff "$T/r1" "$T/r2" | head -n 4)"
grep -q '"band": "link", "withheld_fields_used": true' "$T/r1" && ! grep -q '"weight"\|"probability"' "$T/r1" \
    && ok "resolve: a candidate with withheld fields shows its band, no weight or probability" \
    || bad "resolve: withheld candidate" "$(head -n 3 "$T/r1")"
probe P "$dob" | as analyst "$S" resolve --source benefits >"$T/r3" 2>/dev/null
grep -q '"weight"' "$T/r3" && ! grep -q withheld "$T/r3" \
    && ok "resolve: where nothing is withheld, weights and probabilities show as before" || bad "resolve under test" "$(head -n 3 "$T/r3")"

# ---- withheld fields: explain -------------------------------------------------------------
# Two stored copies of the row that differ only in DOB, each explained against it.
{ head -n 1 "$G/benefits.csv"; echo "$row" | sed "s|^$rid,|LKCOPY1,|"
  echo "$row" | awk -F, -v OFS=, '{ $1 = "LKCOPY2"; $5 = "02/03/1901"; print }'; } >"$T/copies.csv"
as steward "$S" ingest -q --source benefits "$T/copies.csv" 2>/dev/null
lk explain "benefits:$rid" benefits:LKCOPY1 2>"$T/err" | sed 1,2d >"$T/x1" || bad "explain under lk" "$(cat "$T/err")"
lk explain "benefits:$rid" benefits:LKCOPY2 2>/dev/null | sed 1,2d >"$T/x2"
grep -q '^band link$' "$T/x1" && cmp -s "$T/x1" "$T/x2" \
    && ok "explain: pairs differing only in a withheld field read the same, byte for byte" \
    || bad "explain: withheld field changes the output" "$(diff "$T/x1" "$T/x2" | head -n 6)"
! grep -q '^total\|^probability\|paired by rule\|^dob' "$T/x1" \
    && ok "explain: no total, probability, blocking rule or withheld row" || bad "explain shows" "$(cat "$T/x1")"
as analyst "$S" explain "benefits:$rid" benefits:LKCOPY2 2>/dev/null >"$T/x3"
grep -q '^total' "$T/x3" && grep -q 'paired by rule' "$T/x3" \
    && ok "explain: where nothing is withheld, the total and rule show as before" || bad "explain under test" "$(cat "$T/x3")"

# ---- output scoping: train's log names no record value ---------------------------------
# A rule keyed on the birth year alone, and a cap of 5 pairs per block: it
# skips blocks, whose keys are birth years.
C=$T/c.db
sed -e 's|max_block_pairs: 20000|max_block_pairs: 5|' -e 's|^  rules:$|  rules:\n    - [year(dob)]|' \
    "$T/all.yaml" >"$T/cap.yaml"
gv_setup "$C" "$T/cap.yaml" || bad "capped store" "setup failed"
for s in deaths benefits; do as steward "$C" ingest -q --source "$s" "$G/$s.csv" 2>/dev/null; done
as admin "$C" train >/dev/null 2>"$T/train" || bad "train" "$(tail -n 2 "$T/train")"
grep -q "over the cap" "$T/train" && ! grep -q "block '" "$T/train" \
    && ok "train: skipped blocks are reported without their keys (an admin reads no record)" \
    || bad "train log" "$(grep -m 2 'cap' "$T/train")"

# ---- output scoping: a failed write is logged as failed ---------------------------------
last_outcome() { sqlite3 "$S" "SELECT outcome FROM audit WHERE action = '$1' ORDER BY seq DESC LIMIT 1"; }
mkdir "$T/adir"
as analyst "$S" export --out "$T/adir" 2>/dev/null && bad "export to a directory succeeded"
[ "$(last_outcome entity.export)" = failed ] && ok "export that writes nothing is logged as failed" \
    || bad "failed export logged as $(last_outcome entity.export)"
as analyst "$S" export --out "$T/e.csv" 2>/dev/null
[ "$(last_outcome entity.export)" = allowed ] && [ -s "$T/e.csv" ] && ok "export that writes is logged as allowed" \
    || bad "export logged as $(last_outcome entity.export)"
n0=$(sqlite3 "$S" "SELECT count(*) FROM audit WHERE action = 'audit.witness' AND outcome = 'allowed'")
audit() { DOVETAIL_TOKEN=$(cat "$S.auditor") "$DT" audit "$@" --store "$S" --purpose test; }
audit witness --out "$T/no/such/dir/w" 2>/dev/null && bad "witness into no directory succeeded"
n1=$(sqlite3 "$S" "SELECT count(*) FROM audit WHERE action = 'audit.witness' AND outcome = 'allowed'")
[ "$n0" = "$n1" ] && [ "$(last_outcome audit.witness)" = failed ] \
    && ok "witness that writes nothing is logged as failed, never allowed" \
    || bad "failed witness logged" "$(sqlite3 "$S" "SELECT seq, outcome FROM audit WHERE action = 'audit.witness'")"
audit witness --out "$T/w" 2>/dev/null
audit verify --witness "$T/w" >"$T/v" 2>&1 && [ "$(last_outcome audit.witness)" = allowed ] \
    && ok "witness that writes is logged as allowed, and verifies" || bad "witness" "$(cat "$T/v")"

# ---- output scoping: purge reports a steward's own sources only (on a copy) ------------------
P=$T/p.db
policy deaths "[death_id, decedent, ssn, zip]" 30
sqlite3 "$S" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
cp "$S" "$P"
for r in admin steward analyst auditor; do cp "$S.$r" "$P.$r"; done
DOVETAIL_TOKEN=$(cat "$P.admin") "$DT" principal add stew-b --role steward --source benefits --store "$P" \
    --purpose setup >"$P.stewb" 2>/dev/null
later=$(date -u -d '+40 days' +%F)
DOVETAIL_TEST_NOW=$later as stewb "$P" purge >"$T/purge" 2>"$T/err" || bad "purge by a steward" "$(cat "$T/err")"
n_deaths=$(sqlite3 "$P" "SELECT count(*) FROM record r JOIN source s ON s.id = r.source WHERE s.name = 'deaths'")
[ "$(cut -d' ' -f1 "$T/purge")" = benefits ] && [ "$n_deaths" = 0 ] \
    && ok "purge by benefits' steward erases what is due store-wide and reports benefits only" \
    || bad "steward's purge report" "$(cat "$T/purge") ($n_deaths deaths records left)"
DOVETAIL_TEST_NOW=$later as admin "$P" purge --json >"$T/purge" 2>/dev/null
[ "$(wc -l <"$T/purge")" = 5 ] && ok "purge by an admin reports every source" || bad "admin's purge report" "$(cat "$T/purge")"

# ---- timing: hidden records in the block cost nothing ---------------------------------------
# Probe 1's block holds 3,000 records of b, which purpose view hides; probe
# 2's holds none. Under view the medians of the call's work (all of it but
# the audit entry's fsync, whose noise on a shared disk is larger than the
# bound) must agree within 10 %. Reading the hidden records made it 30
# times slower; a measurement over the bound is taken again, twice at most,
# so a noisy minute on a shared machine is not a failure.
lk_timing_store "$T/tm" 3000 || bad "timing store" "setup failed"
for attempt in 1 2 3; do
    DOVETAIL_TOKEN=$(cat "$T/tm/s.db.analyst") "$LEAKS" "$T/tm/s.db" a view "$T/tm/p1.json" \
        "$T/tm/p2.json" 31 >"$T/timing" 2>"$T/err" || bad "bench-leaks" "$(cat "$T/err")"
    ratio=$(sed -n 's/.*"enforced": {[^}]*"cpu_ratio": \([0-9.]*\).*/\1/p' "$T/timing")
    awk -v r="${ratio:-9}" 'BEGIN { exit !(r <= 1.1) }' && break
done
awk -v r="${ratio:-9}" 'BEGIN { exit !(r <= 1.1) }' \
    && ok "resolve under a purpose: 3,000 hidden records in the block cost nothing ($(cat "$T/timing"))" \
    || bad "resolve time grows with hidden records" "$(cat "$T/timing")"

printf 'leaks: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
