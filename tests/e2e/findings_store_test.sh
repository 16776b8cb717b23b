#!/bin/sh
# End-to-end findings in a store (README, "Findings in a store"): event
# sources ingested (counted, rejected rows named, sealed), `findings run`
# finding what `link --findings` finds on the same registries, each state
# step and each refused one (verify before show, twice, contest before
# notice, the wrong role), re-evaluation after a withdrawal (superseded,
# with the reason), a purpose whose policies hide the deaths (those rules
# say they did not run, and it sees none of another purpose's findings),
# disclosures naming finding.show, and export.
# Usage: tests/e2e/findings_store_test.sh /abs/path/to/dovetail /abs/path/to/bench-gen
# DT_BACKEND=pg runs it on a PostgreSQL store (lib.sh, "backends").
# Ends with "findings-store (BACKEND): N passed, N failed". Needs the sqlite3
# shell, or psql.
set -u
DT=$1 GEN=$2
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-fstore.XXXXXX")
unset DOVETAIL_KEY_FILE
. "$HERE/govern_lib.sh"
. "$HERE/lib.sh"
[ -n "${KEEP:-}" ] || trap 'be_stop; rm -rf "$T"' EXIT
be_start || exit 1
S=$(new_store s) B=$(gv_base "$S")
field() { awk -v k="$1" '{ v = $2; if ($1 == k) print v }' "$2"; }
ids() { grep -o '"finding_id": "F[0-9a-f]*"' "$1" | cut -d'"' -f4 | sort; }

"$GEN" --seed 4 --people 3000 --out "$T/g" >/dev/null || bad "bench-gen runs"
sed "s|DATA/|$T/g/|g" "$ROOT/bench/bench.yaml" >"$T/c.yaml"
gv_setup "$S" "$T/c.yaml" || bad "store set up"
DOVETAIL_TOKEN=$(cat "$B.admin") "$DT" principal add reviewer --role reviewer --store "$S" \
    --purpose setup >"$B.reviewer" 2>/dev/null || bad "reviewer added"
for s in deaths benefits earners health voters; do
    as steward "$S" ingest -q --source $s "$T/g/$s.csv" 2>/dev/null || bad "ingest $s"
done

# ---- event sources --------------------------------------------------------------
n_pay=$(($(wc -l <"$T/g/payments.csv") - 1))
as steward "$S" ingest --source payments "$T/g/payments.csv" 2>"$T/ev1"
[ "$(field new "$T/ev1")" = "$n_pay" ] && ok "payments ingested: $n_pay new rows" \
    || bad "payments ingested" "$(cat "$T/ev1")"
as steward "$S" ingest --source payments "$T/g/payments.csv" 2>"$T/ev2"
[ "$(field unchanged "$T/ev2")" = "$n_pay" ] && [ "$(field new "$T/ev2")" = 0 ] \
    && ok "payments again: all unchanged" || bad "payments again" "$(cat "$T/ev2")"
[ "$(sql "$S" "SELECT s.subject FROM audit a JOIN audit_subject s ON s.seq = a.seq
                WHERE a.action = 'event.ingest' AND a.seq = (SELECT min(seq) FROM audit WHERE action = 'event.ingest')
                ORDER BY s.subject" | paste -sd' ')" \
  = "events:payments source:benefits" ] && ok "the entry, logged first, names the event source and its source" \
    || bad "event.ingest entry subjects" "$(sql "$S" "SELECT subject FROM audit_subject WHERE seq = (SELECT min(seq) FROM audit WHERE action = 'event.ingest')")"
as steward "$S" ingest --source earnings "$T/g/earnings.csv" 2>"$T/ev3" \
    && ok "earnings ingested" || bad "earnings ingested" "$(cat "$T/ev3")"
{ head -n 1 "$T/g/payments.csv"
  sed -n 2p "$T/g/payments.csv" | awk -F, -v OFS=, '{ $1 = "PX1"; $4 = "12,x"; print }'
  sed -n 3p "$T/g/payments.csv" | awk -F, -v OFS=, '{ $1 = "PX2"; $3 = "someday"; print }'
  sed -n 4p "$T/g/payments.csv" | awk -F, -v OFS=, '{ $1 = "PX3"; print }'
  sed -n 4p "$T/g/payments.csv" | awk -F, -v OFS=, '{ $1 = "PX3"; print }'
} >"$T/badpay.csv"
as steward "$S" ingest --source payments "$T/badpay.csv" 2>"$T/ev4"; rc=$?
[ $rc -eq 1 ] && [ "$(field rejected "$T/ev4")" = "" ] || true
grep -q "badpay.csv:3: row rejected: no date" "$T/ev4" && grep -q "badpay.csv:5: row rejected: repeats" "$T/ev4" \
    && grep -q "3 rows rejected" "$T/ev4" && [ $rc -eq 1 ] \
    && ok "bad event rows rejected, named by file and line, exit 1; the good one stored" \
    || bad "bad event rows" "rc=$rc $(cat "$T/ev4")"
sql "$S" "SELECT row FROM event" | grep -q 'cents' \
    && bad "event rows are stored in clear" || ok "event rows are sealed"
DOVETAIL_TOKEN=$(cat "$B.analyst") "$DT" ingest --source payments --store "$S" --purpose test \
    "$T/g/payments.csv" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "denied\|may not\|role" "$T/err" && ok "an analyst may not ingest events" \
    || bad "an analyst ingests events" "rc=$rc $(cat "$T/err")"

# ---- run: the store finds what batch finds ---------------------------------------------
DOVETAIL_TOKEN=$(cat "$B.admin") "$DT" train -q --store "$S" --purpose test 2>/dev/null \
    || bad "train"
as reviewer "$S" findings run 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && ok "a reviewer may not run the rules" || bad "a reviewer ran the rules" "rc=$rc"
as analyst "$S" findings run 2>"$T/run1" || bad "findings run" "$(cat "$T/run1")"
grep -q "payment_after_death *[1-9]" "$T/run1" && grep -q "duplicate_enrollment *[1-9]" "$T/run1" \
    && ok "findings run counts per rule" || bad "findings run counts" "$(cat "$T/run1")"
as analyst "$S" findings list >"$T/l1.json" || bad "findings list"
"$DT" link -q --findings --pairs none --config "$T/c.yaml" --out "$T/o" 2>/dev/null || bad "link --findings"
tail -n +2 "$T/o/findings.csv" | cut -d, -f1 | sort >"$T/batch.ids"
ids "$T/l1.json" >"$T/store.ids"
[ -s "$T/store.ids" ] && cmp -s "$T/batch.ids" "$T/store.ids" \
    && ok "the store's findings are batch's ($(wc -l <"$T/store.ids"), same ids)" \
    || bad "store and batch findings differ" "$(comm -3 "$T/batch.ids" "$T/store.ids" | head -3)"
grep -q '"state": "needs-review"' "$T/l1.json" && ! grep -q '"state": "verified"' "$T/l1.json" \
    && ok "a run proposes: open or needs-review, never more" || bad "run states"
as analyst "$S" findings run 2>"$T/run2"
[ "$(awk '$1 == "new" { print $2 }' "$T/run2")" = 0 ] && [ "$(awk '$1 == "superseded" { print $2 }' "$T/run2")" = 0 ] \
    && ok "a second run finds the same findings: none new, none superseded" || bad "second run" "$(cat "$T/run2")"

# ---- the states --------------------------------------------------------------------
F=$(grep -B1 -A3 '"rule": "duplicate_enrollment"' "$T/l1.json" | grep -o 'F[0-9a-f]\{16\}' | head -n 1)
as reviewer "$S" findings verify "$F" --reason "checked" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "not shown to reviewer first" "$T/err" && ok "verify before show is refused" \
    || bad "verify before show" "rc=$rc $(cat "$T/err")"
as reviewer "$S" findings show "$F" >"$T/show.json" || bad "show"
grep -q '"row": {' "$T/show.json" && grep -q '"why": {' "$T/show.json" && grep -q '"steps": \[' "$T/show.json" \
    && ok "show: records as sent, why each link, the history" || bad "show" "$(head -c 300 "$T/show.json")"
as analyst "$S" findings verify "$F" --reason "checked" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && ok "an analyst may not verify" || bad "an analyst verified" "rc=$rc"
as reviewer "$S" findings verify "$F" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "needs reason" "$T/err" && ok "verify without a reason is refused" \
    || bad "verify without reason" "rc=$rc $(cat "$T/err")"
as reviewer "$S" findings verify "$F" --reason "both enrollments confirmed" 2>"$T/err" \
    && grep -q "is now verified" "$T/err" && ok "verify after show" || bad "verify" "$(cat "$T/err")"
as reviewer "$S" findings verify "$F" --reason "again" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "cannot verify a finding that is verified (it allows notify" "$T/err" \
    && ok "verify twice is refused, naming what the state allows" || bad "verify twice" "$(cat "$T/err")"
as analyst "$S" findings contest "$F" --reason "early" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "cannot contest" "$T/err" && ok "contest before the notice is refused" \
    || bad "contest before notice" "$(cat "$T/err")"
as analyst "$S" findings notify "$F" 2>"$T/err" && grep -q "now notified" "$T/err" \
    && ok "notify" || bad "notify" "$(cat "$T/err")"
as analyst "$S" findings list --state notified | grep -q '"final_from": ' \
    && ok "a notified finding says when it may become final" || bad "final_from"
as analyst "$S" findings contest "$F" --reason "one enrollment was a transfer" 2>"$T/err" \
    && grep -q "now contested" "$T/err" && ok "contest within the window" || bad "contest" "$(cat "$T/err")"
as reviewer "$S" findings dismiss "$F" --reason "transfer confirmed" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && grep -q "now dismissed" "$T/err" \
    && ok "dismiss after the contest (the earlier show still counts: the evidence is unchanged)" \
    || bad "dismiss" "rc=$rc $(cat "$T/err")"
as reviewer "$S" findings show "$F" | tr -d ' \n' | grep -q '"action":"run".*"action":"verify".*"action":"notify".*"action":"contest".*"action":"dismiss"' \
    && ok "the history lists every step in order" || bad "history"
as reviewer "$S" findings verify F0000000000000000 --reason x 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "no finding 'F0000000000000000'" "$T/err" && ok "an unknown finding" \
    || bad "unknown finding" "$(cat "$T/err")"

# ---- a show counts only for the evidence it showed -------------------------------------
P2=$(grep -B1 '"rule": "payment_after_death"' "$T/l1.json" | grep -o 'F[0-9a-f]\{16\}' | sed -n 2p)
as reviewer "$S" findings show "$P2" >"$T/p2a.json"
E2=$(tr -d ' \n' <"$T/p2a.json" | grep -o '"source":"benefits","record_id":"[^"]*"' | head -n 1 | cut -d'"' -f8)
{ head -n 1 "$T/g/payments.csv"; echo "PLATE1,$E2,2025-12-01,99.99"; } >"$T/late.csv"
as steward "$S" ingest -q --source payments "$T/late.csv" 2>/dev/null || bad "a late payment ingested"
as analyst "$S" findings run 2>/dev/null
as reviewer "$S" findings verify "$P2" --reason "checked" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "not shown to reviewer first" "$T/err" \
    && ok "a show of the evidence before a run changed it does not count" \
    || bad "verify after the evidence changed" "rc=$rc $(cat "$T/err")"
as reviewer "$S" findings show "$P2" | grep -q "PLATE1" && ok "the new evidence lists the late payment" \
    || bad "late payment in the evidence"
as reviewer "$S" findings verify "$P2" --reason "checked again" 2>/dev/null \
    && ok "after showing the new evidence, verify" || bad "verify after a new show"
as steward "$S" findings list 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "may not finding.list" "$T/err" && ! grep -q "LeakSanitizer" "$T/err" \
    && ok "a steward may not list findings (and nothing leaks)" || bad "steward list" "rc=$rc $(head -3 "$T/err")"

# ---- re-evaluation after a withdrawal ---------------------------------------------------
P=$(grep -B1 '"rule": "payment_after_death"' "$T/l1.json" | grep -o 'F[0-9a-f]\{16\}' | head -n 1)
as analyst "$S" findings show "$P" >"$T/p.json"
D=$(tr -d ' \n' <"$T/p.json" | grep -o '"source":"deaths","record_id":"[^"]*"' | head -n 1 | cut -d'"' -f8)
printf 'death_id\n%s\n' "$D" >"$T/wd.csv"
as steward "$S" withdraw --source deaths "$T/wd.csv" 2>/dev/null || bad "withdraw"
as reviewer "$S" findings show "$P" >/dev/null
as reviewer "$S" findings verify "$P" --reason "looks right" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "record deaths:$D of finding $P has been withdrawn since the run" "$T/err" \
    && ok "no verify while a record of its evidence is withdrawn and no run has looked again" \
    || bad "verify on withdrawn evidence" "rc=$rc $(cat "$T/err")"
as analyst "$S" findings run 2>"$T/run3"
as analyst "$S" findings show "$P" >"$T/p2.json"
grep -q '"state": "superseded"' "$T/p2.json" && grep -q "record deaths:$D is withdrawn" "$T/p2.json" \
    && ok "withdrawing its death record supersedes the finding, saying why" \
    || bad "superseded after withdrawal" "$D $(grep -A3 supersede "$T/p2.json" | head -5)"
as reviewer "$S" findings verify "$P" --reason x 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "superseded" "$T/err" && ok "a superseded finding cannot be verified" \
    || bad "verify superseded" "$(cat "$T/err")"

# ---- a purpose that may not see the deaths -------------------------------------------
gv_policy nodeaths "$(date -u -d '+700 days' +%F)" all all >"$T/p2.yaml"
cat "$B.policy.yaml" >"$T/both.yaml"
sed -n '2,$p' "$T/p2.yaml" >>"$T/both.yaml"
for s in benefits earners health voters; do
    DOVETAIL_TOKEN=$(cat "$B.steward") "$DT" policy set --source $s --store "$S" --purpose setup \
        "$T/both.yaml" 2>/dev/null || bad "policy for nodeaths"
done
DOVETAIL_TOKEN=$(cat "$B.analyst") "$DT" findings run --store "$S" --purpose nodeaths 2>"$T/run4"
grep -q "payment_after_death *did not run: purpose 'nodeaths' may not use source 'deaths'" "$T/run4" \
    && grep -q "death_contradicted *did not run" "$T/run4" && grep -q "duplicate_enrollment *[1-9]" "$T/run4" \
    && ok "the death rules say they cannot run; the others run" || bad "nodeaths run" "$(cat "$T/run4")"
DOVETAIL_TOKEN=$(cat "$B.analyst") "$DT" findings show "$P" --store "$S" --purpose nodeaths 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "no finding" "$T/err" && ok "another purpose's finding is not there" \
    || bad "another purpose's finding" "rc=$rc $(cat "$T/err")"
DOVETAIL_TOKEN=$(cat "$B.analyst") "$DT" findings list --store "$S" --purpose nodeaths >"$T/l3.json"
grep -q '"source": "deaths"' "$T/l3.json" && bad "nodeaths lists a death record" \
    || ok "nodeaths' findings rest on no death record"

# A purpose that sees the deaths and the benefits but not the earners: a
# death may be contradicted by filings it cannot see, so no payment after
# it is called improper either.
gv_policy noearn "$(date -u -d '+700 days' +%F)" all all >"$T/p3.yaml"
sed -n '2,$p' "$T/p3.yaml" >>"$T/both.yaml"
cat "$B.policy.yaml" >"$T/deaths.yaml"
sed -n '2,$p' "$T/p3.yaml" >>"$T/deaths.yaml"
for s in benefits health voters; do
    DOVETAIL_TOKEN=$(cat "$B.steward") "$DT" policy set --source $s --store "$S" --purpose setup \
        "$T/both.yaml" 2>/dev/null || bad "policy for noearn"
done
DOVETAIL_TOKEN=$(cat "$B.steward") "$DT" policy set --source deaths --store "$S" --purpose setup \
    "$T/deaths.yaml" 2>/dev/null || bad "deaths policy for noearn"
DOVETAIL_TOKEN=$(cat "$B.analyst") "$DT" findings run --store "$S" --purpose noearn 2>"$T/run5"
grep -q "death_contradicted *did not run: purpose 'noearn' may not use source 'earners'" "$T/run5" \
    && grep -q "payment_after_death *did not run: death_contradicted cannot run" "$T/run5" \
    && ok "no payment after death is raised while its death cannot be checked against filings" \
    || bad "noearn run" "$(cat "$T/run5")"

# ---- audit, export -----------------------------------------------------------------
R=$(tr -d ' \n' <"$T/show.json" | grep -o '"source":"benefits","record_id":"[^"]*"' | head -n 1 | cut -d'"' -f8)
as auditor "$S" disclosures --record "benefits:$R" >"$T/disc" 2>&1
grep -q '"finding.show"' "$T/disc" && grep -q '"reviewer"' "$T/disc" \
    && ok "disclosures name the reviewer's finding.show" || bad "disclosures" "$(head -3 "$T/disc")"
as analyst "$S" findings export --out "$T/x" 2>"$T/err" || bad "export" "$(cat "$T/err")"
head -n 1 "$T/x/findings.csv" | grep -qx 'finding_id,rule,rule_version,state,confidence,records,identifier,date,amount,detail' \
    && grep -q ',dismissed,' "$T/x/findings.csv" && grep -q ',superseded,' "$T/x/findings.csv" \
    && [ "$(stat -c %a "$T/x/findings.csv")" = 600 ] \
    && ok "export: CSV with states, 0600" || bad "export" "$(head -n 2 "$T/x/findings.csv")"
as analyst "$S" calls >/dev/null 2>&1
"$DT" calls | grep -q "finding.verify" && ok "the finding calls are rows of the table" \
    || bad "calls lack finding.verify"

# ---- the contest window: with contest_days 0, a notified finding is final at once ----
S0=$(new_store s0) B0=$(gv_base "$S0")
awk '{ print } /^  review_below:/ { print "  contest_days: 0" }' "$T/c.yaml" >"$T/c0.yaml"
gv_setup "$S0" "$T/c0.yaml" || bad "second store set up"
DOVETAIL_TOKEN=$(cat "$B0.admin") "$DT" principal add reviewer --role reviewer --store "$S0" \
    --purpose setup >"$B0.reviewer" 2>/dev/null || bad "reviewer added"
for s in deaths benefits earners health voters payments; do
    as steward "$S0" ingest -q --source $s "$T/g/$s.csv" 2>/dev/null || bad "ingest $s (2)"
done
DOVETAIL_TOKEN=$(cat "$B0.admin") "$DT" train -q --store "$S0" --purpose test 2>/dev/null || bad "train (2)"
as analyst "$S0" findings run 2>/dev/null || bad "findings run (2)"
F0=$(as analyst "$S0" findings list --state open | grep -o 'F[0-9a-f]\{16\}' | head -n 1)
as reviewer "$S0" findings show "$F0" >/dev/null
as reviewer "$S0" findings verify "$F0" --reason "checked" 2>/dev/null || bad "verify (2)"
as analyst "$S0" findings list --state final | grep -q "$F0" && bad "final before the notice" \
    || ok "verified is not final"
as analyst "$S0" findings notify "$F0" 2>/dev/null || bad "notify (2)"
as analyst "$S0" findings list --state final | grep -q "$F0" \
    && ok "notified, with the window passed: final" || bad "not final after the window"
as analyst "$S0" findings contest "$F0" --reason "late" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "cannot contest a finding that is final" "$T/err" \
    && ok "a contest after the window is refused" || bad "late contest" "rc=$rc $(cat "$T/err")"
as analyst "$S0" findings export --out "$T/x0" 2>/dev/null
grep -q "^$F0,.*,final," "$T/x0/findings.csv" && ok "export calls it final" \
    || bad "export final" "$(grep "^$F0" "$T/x0/findings.csv")"

echo "findings-store ($(be_name)): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
