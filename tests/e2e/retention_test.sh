#!/bin/sh
# End-to-end tests of retention, on the test clock (DOVETAIL_TEST_NOW):
#   - a source's policy sets retention_days; each record version is kept
#     that long from its arrival, and a row sent again unchanged renews it
#     (at most once a day);
#   - the first request after a version falls due erases it first, in one
#     transaction with its own audit entry naming every record touched, so
#     no read shows it;
#   - an erased record leaves no row behind (versions, links, keys,
#     membership) and the records it was linked to keep their entities;
#   - an event source's rows (payments) go by the retention of the source
#     they belong to (benefits);
#   - `dovetail purge` does the same on demand and reports it; only admins
#     and stewards may; the audit log is never erased and still verifies;
#   - (on a copy) training under a purpose compares no pair of sources its
#     policies keep apart.
# Usage: tests/e2e/retention_test.sh /abs/path/to/dovetail /abs/path/to/bench-gen
# DT_BACKEND=pg runs it on a PostgreSQL store (lib.sh, "backends").
# Ends with "retention (BACKEND): N passed, N failed". Needs the sqlite3
# shell (or psql) and a test build of dovetail.
set -u
DT=$1
GEN=$2
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-retention.XXXXXX")
. "$HERE/govern_lib.sh"
. "$HERE/lib.sh"
trap 'be_stop; rm -rf "$T"' EXIT
be_start || exit 1
S=$(new_store s) SB=$(gv_base "$S")
q() { sql "$S" "$1"; }
at() { # YYYY-MM-DD role command args...: dovetail on $S at that date
    _d=$1 _r=$2
    shift 2
    DOVETAIL_TEST_NOW=$_d as "$_r" "$S" "$@"
}
verify() { # YYYY-MM-DD STORE: audit verify as the auditor
    DOVETAIL_TOKEN=$(cat "$(gv_base "$2").auditor") DOVETAIL_TEST_NOW=$1 "$DT" audit verify --store "$2" --purpose test
}
n_benefits() { q "SELECT count(*) FROM record r JOIN source s ON s.id = r.source WHERE s.name = 'benefits'"; }
n_history() { q "SELECT count(*) FROM record_history"; }

G=$T/gen
"$GEN" --seed 5 --people 300 --out "$G" >/dev/null 2>&1
sed "s|DATA/|$G/|g" "$ROOT/bench/bench.yaml" >"$T/all.yaml"
"$DT" link -q --config "$T/all.yaml" --out "$T/batch" 2>/dev/null
gv_setup "$S" "$T/all.yaml" || bad "governed store" "setup failed"
{
    printf 'retention_days: 30\npurposes:\n'
    printf '  test:\n    allowed: true\n    agreement: T-1\n    expires: 2028-06-30\n    fields: all\n    link_with: all\n'
} >"$T/benefits.policy.yaml"
DOVETAIL_TOKEN=$(cat "$SB.steward") DOVETAIL_TEST_NOW=2026-12-01 "$DT" policy set --source benefits \
    --store "$S" --purpose setup "$T/benefits.policy.yaml" 2>"$T/err" || bad "policy set" "$(cat "$T/err")"
at 2026-12-01 admin train --model "$T/batch/model.json" 2>/dev/null
for s in benefits deaths voters payments; do at 2026-12-01 steward ingest -q --source "$s" "$G/$s.csv" 2>/dev/null; done
n_events() { q "SELECT count(*) FROM event"; }
NE=$(n_events)
at 2026-12-01 analyst export --out "$T/e0.csv" 2>/dev/null
N=$(n_benefits)
[ "$N" -gt 100 ] && ok "day 0: $N benefits records stored" || bad "ingest" "$N benefits records"

# ---- training compares only sources a purpose lets link (on a copy) --------------------
# Purpose apart: all three sources, but voters may link to no other. Every
# pair the fit samples for u is then within {benefits, deaths} or within voters.
C=$(be_copy "$S" c) CB=$(gv_base "$C")
for r in admin steward; do cp "$SB.$r" "$CB.$r"; done
for s in benefits deaths voters; do
    { printf 'purposes:\n  apart:\n    allowed: true\n    agreement: A-1\n    expires: 2028-06-30\n    fields: all\n'
      [ "$s" != voters ] && printf '    link_with: all\n'; } >"$T/apart.yaml"
    DOVETAIL_TOKEN=$(cat "$CB.steward") DOVETAIL_TEST_NOW=2026-12-01 "$DT" policy set --source "$s" \
        --store "$C" --purpose setup "$T/apart.yaml" 2>/dev/null
done
nb=$(($(wc -l <"$G/benefits.csv") + $(wc -l <"$G/deaths.csv") - 2)) nv=$(($(wc -l <"$G/voters.csv") - 1))
DOVETAIL_TOKEN=$(cat "$CB.admin") DOVETAIL_TEST_NOW=2026-12-01 "$DT" train --store "$C" --purpose apart >"$T/train" 2>&1
want=$((nb * (nb - 1) / 2 + nv * (nv - 1) / 2))
grep -q "u from $want random pairs" "$T/train" \
    && ok "training under a purpose compares no pair of sources it keeps apart ($want pairs for u)" \
    || bad "train pair filter" "want $want: $(grep 'u from' "$T/train")"

# ---- arrival times, renewal -----------------------------------------------------------
day0=$(date -u -d '2026-12-01 12:00' +%s) # the test clock reads noon
[ "$(q "SELECT count(*) FROM record WHERE received = $day0")" = "$(q 'SELECT count(*) FROM record')" ] \
    && ok "each record's arrival is the (test) clock's time" || bad "arrival times"
at 2026-12-01 steward ingest -q --source benefits "$G/benefits.csv" 2>/dev/null
[ "$(q "SELECT count(*) FROM record WHERE received <> $day0")" = 0 ] \
    && ok "the same rows again the same day write nothing" || bad "same-day renewal"
# Day 20: the first 40 rows again unchanged (renewed), and row 61 changed (a new version).
head -n 41 "$G/benefits.csv" >"$T/d20.csv"
sed -n 62p "$G/benefits.csv" | awk -F, -v OFS=, '{ $7 = "00000"; print }' >>"$T/d20.csv"
changed=$(tail -n 1 "$T/d20.csv" | cut -d, -f1)
at 2026-12-21 steward ingest -q --source benefits "$T/d20.csv" 2>/dev/null
day20=$(date -u -d '2026-12-21 12:00' +%s)
[ "$(q "SELECT count(*) FROM record WHERE received = $day20")" = 41 ] && [ "$(n_history)" = 1 ] \
    && ok "a row sent again days later is renewed; a changed one is a new version" \
    || bad "renewal" "$(q "SELECT count(*) FROM record WHERE received = $day20") renewed, $(n_history) versions"

# ---- day 31: the first request erases what is due, then does its work ------------------
[ "$(n_benefits)" = "$N" ] && ok "nothing is erased before a request comes" || bad "early erasure"
before=$(q 'SELECT count(*) FROM audit')
at 2027-01-01 steward ingest -q --source voters "$G/voters.csv" 2>/dev/null
[ "$(n_benefits)" = 41 ] && [ "$(n_history)" = 0 ] \
    && ok "the first request erased the $((N - 41)) records and the version past 30 days" \
    || bad "auto purge" "$(n_benefits) benefits records, $(n_history) versions"
row=$(q "SELECT principal || '|' || purpose || '|' || action || '|' || outcome || '|' || n_subjects FROM audit WHERE seq = $((before + 1))")
[ "$row" = "dovetail:retention|retention|store.purge|allowed|$((N - 41 + 1 + 1))" ] \
    && ok "under an entry of its own, naming every record touched and the event source" \
    || bad "purge entry" "$row"
[ "$NE" -gt 100 ] && [ "$(n_events)" = 0 ] \
    && ok "benefits' payments ($NE rows, 30 days old) went with them: its policy governs its events" \
    || bad "event retention" "$NE before, $(n_events) after"
q "SELECT action FROM audit WHERE seq = $((before + 2))" | grep -qx store.ingest \
    && ok "the request's own entry follows" || bad "entry order"
at 2027-01-01 analyst export --out "$T/e31.csv" 2>"$T/err" || bad "export at day 31" "$(cat "$T/err")"
[ "$(grep -c '^benefits,' "$T/e31.csv")" = 41 ] && ok "a read then shows the 41 kept only" \
    || bad "export after purge" "$(grep -c '^benefits,' "$T/e31.csv")"
gone=$(sed -n 45p "$G/benefits.csv" | cut -d, -f1)
DOVETAIL_TEST_NOW=2027-01-01 as auditor "$S" disclosures --record "benefits:$gone" >"$T/disc" 2>"$T/err"
grep -q '"action": "store.purge"' "$T/disc" && grep -q '"action": "entity.export"' "$T/disc" \
    && ok "an erased record's disclosures still list its accesses and its erasure" \
    || bad "disclosures of an erased record" "$(cat "$T/disc" "$T/err")"
DOVETAIL_TEST_NOW=2027-01-01 as auditor "$S" disclosures --record "benefits:$changed" 2>/dev/null \
    | grep -q '"action": "store.purge"' && ok "a record losing an old version is named too" || bad "version subject"
[ "$(q 'SELECT (SELECT count(*) FROM link WHERE a NOT IN (SELECT id FROM record) OR b NOT IN (SELECT id FROM record))
          + (SELECT count(*) FROM membership WHERE record NOT IN (SELECT id FROM record))
          + (SELECT count(*) FROM record_keys WHERE record NOT IN (SELECT id FROM record))')" = 0 ] \
    && ok "no link, key or membership of an erased record is left" || bad "leftover rows"
[ "$(q 'SELECT count(*) FROM record r LEFT JOIN membership m ON m.record = r.id
        WHERE r.withdrawn = 0 AND m.record IS NULL')" = 0 ] \
    && ok "every record kept still has its entity" || bad "records without entity"
[ "$(q "SELECT count(*) FROM record r JOIN source s ON s.id = r.source WHERE s.name = 'deaths'")" = \
  "$(($(wc -l <"$G/deaths.csv") - 1))" ] && ok "a source without retention keeps all" || bad "deaths erased"
verify 2027-01-01 "$S" >/dev/null 2>"$T/err" && ok "the log still verifies" \
    || bad "audit verify after purge" "$(cat "$T/err")"

# ---- dovetail purge ----------------------------------------------------------------------
at 2027-01-01 admin purge >"$T/p0" 2>"$T/err"
grep -q "benefits .*retention 30 days: 0 records erased, 0 earlier versions" "$T/p0" \
    && grep -q "deaths .*keeps all" "$T/p0" && ok "purge with nothing due erases nothing, and says so" \
    || bad "purge, nothing due" "$(cat "$T/p0" "$T/err")"
# Day 81: the 41 renewed on day 20 are due. A writer holding the store makes
# the erasure wait past its timeout: the read fails rather than show them.
# (SQLite's busy timeout bounds the wait; PostgreSQL's writers queue without
# a bound, so there the reader's lock_timeout does, as an operator may set.)
if be_is_pg; then
    psql -q "$S" -c "BEGIN" -c "SELECT pg_advisory_xact_lock(x'7263766e6b746c64'::bigint)" \
        -c "SELECT pg_sleep(4)" -c "COMMIT" >/dev/null &
    export PGOPTIONS="-c lock_timeout=1500"
else
    (printf 'BEGIN IMMEDIATE;\nSELECT 1;\n'; sleep 4; printf 'COMMIT;\n') | sqlite3 "$S" >/dev/null &
fi
lock=$!
sleep 1
at 2027-02-20 analyst export --out "$T/e81.csv" 2>"$T/err"; rc=$?
unset PGOPTIONS
wait $lock
[ $rc -eq 1 ] && grep -q "past their retention period could not be erased, so nothing is read" "$T/err" \
    && [ "$(n_benefits)" = 41 ] && ok "when the erasure cannot run, the read fails instead of showing them" \
    || bad "read with erasure blocked" "rc=$rc $(cat "$T/err")"
[ "$(q "SELECT count(*) FROM audit WHERE action = 'store.purge' AND outcome = 'allowed' AND n_subjects = 41")" = 0 ] \
    && ok "and no entry claims an erasure that did not happen" || bad "stale purge entry"
at 2027-02-20 analyst purge >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "may not store.purge" "$T/err" && [ "$(n_benefits)" = 41 ] \
    && ok "an analyst may not purge" || bad "analyst purge" "rc=$rc $(cat "$T/err")"
at 2027-02-20 admin purge --json >"$T/p50" 2>"$T/err"
grep -q '{"source": "benefits", "retention_days": 30, "records": 41, "versions": 0, "events": 0}' "$T/p50" \
    && [ "$(n_benefits)" = 0 ] && ok "day 81: purge erases the renewed ones, as JSON" \
    || bad "purge day 81" "$(cat "$T/p50" "$T/err")"
q "SELECT principal || '|' || action || '|' || n_subjects FROM audit ORDER BY seq DESC LIMIT 1" \
    | grep -qx "admin|store.purge|41" && ok "under the admin's own entry" || bad "explicit purge entry"
verify 2027-02-20 "$S" >/dev/null 2>"$T/err" && ok "the log verifies at the end" \
    || bad "final verify" "$(cat "$T/err")"

printf 'retention (%s): %d passed, %d failed\n' "$(be_name)" "$passed" "$failed"
[ "$failed" -eq 0 ]
