#!/bin/sh
# End-to-end tests of governance on generated registries (five sources):
#   - a matrix of principals x purposes x read paths (resolve, entity,
#     export, explain): only readers read, and nothing a purpose's policies
#     hide leaks: no records, columns, counts, links, or hint in errors;
#   - entities under a purpose equal batch link over that purpose's sources
#     alone (a hidden record never joins two visible ones);
#   - every request, allowed or denied, is on the audit log;
#   - an expired agreement stops linkage, with no code change (test clock);
#   - tampering with the audit log is caught, the first bad entry named;
#   - disclosures list who saw a record, from the log.
# Usage: tests/e2e/govern_test.sh /abs/path/to/dovetail /abs/path/to/bench-gen
# DT_BACKEND=pg runs it on a PostgreSQL store (lib.sh, "backends").
# Ends with "govern (BACKEND): N passed, N failed". Needs the sqlite3 shell,
# or psql, and a test build of dovetail (DOVETAIL_TEST_NOW).
set -u
DT=$1
GEN=$2
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-govern.XXXXXX")
. "$HERE/govern_lib.sh"
. "$HERE/lib.sh"
[ -n "${KEEP:-}" ] || trap 'be_stop; rm -rf "$T"' EXIT
be_start || exit 1
entries() { sql "$S" 'SELECT count(*) FROM audit'; }
tok() { cat "$SB.$1"; }
run_as() { # principal purpose command args...: dovetail on $S
    _t=$1 _p=$2 _c=$3
    shift 3
    DOVETAIL_TOKEN=$_t "$DT" "$_c" --store "$S" --purpose "$_p" "$@"
}

# ---- a store with five registries and three purposes -----------------------------
G=$T/gen
"$GEN" --seed 5 --people 800 --out "$G" >/dev/null 2>&1
sed "s|DATA/|$G/|g" "$ROOT/bench/bench.yaml" >"$T/all.yaml"
"$DT" link -q --config "$T/all.yaml" --out "$T/batch" 2>/dev/null
S=$(new_store s) SB=$(gv_base "$S") # token files: $SB.ROLE
gv_setup "$S" "$T/all.yaml" || bad "governed store" "setup failed"
as admin "$S" train --model "$T/batch/model.json" 2>/dev/null
for s in $(gv_sources "$T/all.yaml"); do as steward "$S" ingest -q --source "$s" "$G/$s.csv" 2>/dev/null; done
DOVETAIL_TOKEN=$(tok admin) "$DT" principal add rev --role reviewer --store "$S" --purpose setup >"$SB.reviewer" 2>/dev/null
DOVETAIL_TOKEN=$(tok admin) "$DT" principal add gone --role analyst --store "$S" --purpose setup >"$SB.gone" 2>/dev/null
DOVETAIL_TOKEN=$(tok admin) "$DT" principal revoke gone --store "$S" --purpose setup 2>/dev/null

# pi: benefits, deaths, voters, all linked, every column; earners and health hidden.
# dq: every source; benefits shows only its id and names; health links to no one.
# old: benefits only, its agreement lapsing on 2027-01-31.
exp=$(date -u -d '+600 days' +%F)
policy() { # source file: pi? dq-fields dq-links old?
    {
        printf 'retention_days: 3650\npurposes:\n'
        printf '  test:\n    allowed: true\n    agreement: T-1\n    expires: %s\n    fields: all\n    link_with: all\n' "$exp"
        [ "$2" = yes ] && printf '  pi:\n    allowed: true\n    agreement: CMA-7\n    expires: %s\n    fields: all\n    link_with: all\n' "$exp"
        [ "$2" = no ] && printf '  pi:\n    allowed: false\n'
        printf '  dq:\n    allowed: true\n    agreement: DQ-1\n    expires: %s\n    fields: %s\n    link_with: %s\n' "$exp" "$3" "$4"
        [ "$5" = yes ] && printf '  old:\n    allowed: true\n    agreement: CMA-OLD\n    expires: 2027-01-31\n    fields: all\n    link_with: all\n'
    } >"$T/$1.policy.yaml"
    DOVETAIL_TOKEN=$(tok steward) DOVETAIL_TEST_NOW=2026-11-01 "$DT" policy set --source "$1" \
        --store "$S" --purpose setup "$T/$1.policy.yaml" 2>"$T/err" || bad "policy set $1" "$(cat "$T/err")"
}
policy benefits yes "[FIRST_NAME, MIDDLE_NAME, LAST_NAME]" "all" yes
policy deaths yes all all no
policy voters yes all all no
policy earners no all all no
policy health no all "[]" no

# ---- the purpose's entities are batch link over its sources alone ----------------
# (findings: goes too: its events name earners)
awk '/^  - name: (earners|health)$/ { skip = 1; next } /^  - name:/ { skip = 0 } /^[^ ]/ { skip = 0 }
     /^findings:/ { gone = 1 } !skip && !gone' "$T/all.yaml" >"$T/pi.yaml"
"$DT" link -q --config "$T/pi.yaml" --model "$T/batch/model.json" --out "$T/pi-batch" 2>/dev/null
run_as "$(tok analyst)" pi export --out "$T/pi.csv" 2>"$T/err"
partition "$T/pi-batch/entities.csv" >"$T/pi-batch.part"
partition "$T/pi.csv" >"$T/pi.part"
n=$(grep -c ' ' "$T/pi.part")
[ "$n" -gt 50 ] && cmp -s "$T/pi-batch.part" "$T/pi.part" \
    && ok "entities under pi = batch link of pi's three sources alone ($n entities of 2+)" \
    || bad "entities under pi = batch link of its sources" "$(diff "$T/pi-batch.part" "$T/pi.part" | head -n 4)"
all=$(sql "$S" "SELECT count(*) FROM record r JOIN source s ON s.id = r.source WHERE s.name IN ('benefits','deaths','voters') AND r.withdrawn = 0")
[ "$(tail -n +2 "$T/pi.csv" | wc -l)" = "$all" ] && ! grep -q '^\(earners\|health\),' "$T/pi.csv" \
    && ok "export under pi: every visible record ($all), none hidden" || bad "export under pi rows"
# a chain through a hidden record: some full entity joins visible records only via earners/health
as analyst "$S" export --out "$T/full.csv" 2>/dev/null # purpose test: gv_setup allowed every source
[ "$(partition "$T/full.csv" | wc -l)" -gt 0 ] && ! cmp -s "$T/full.csv" "$T/pi.csv" \
    && ok "a purpose with every source sees other entities than pi" || bad "full view differs"

# ---- the matrix: principals x read paths, under pi ---------------------------------
B=$(awk -F, 'NR == 2 { print $1 }' "$G/benefits.csv")
E=$(awk -F, -v b="$B" '$1 == "benefits" && $2 == b { print $3 }' "$T/pi.csv")
H=$(awk -F, 'NR == 2 { print $1 }' "$G/health.csv")
REC=$(awk -F, 'NR == 2 { printf "{\"enrollment_id\": \"q1\", \"FIRST_NAME\": \"%s\", \"LAST_NAME\": \"%s\", \"DOB\": \"%s\", \"SSN\": \"%s\"}", $2, $4, $5, $6 }' "$G/benefits.csv")
read_path() { # token purpose path -> exit status; output in $T/out, $T/err
    case $3 in
    resolve) printf '%s' "$REC" | run_as "$1" "$2" resolve --source benefits >"$T/out" 2>"$T/err" ;;
    entity) run_as "$1" "$2" entity "$E" >"$T/out" 2>"$T/err" ;;
    export) run_as "$1" "$2" export --out "$T/out" >/dev/null 2>"$T/err" ;;
    explain) run_as "$1" "$2" explain "benefits:$B" "deaths:$(awk -F, 'NR == 2 { print $1 }' "$G/deaths.csv")" >"$T/out" 2>"$T/err" ;;
    esac
}
for who in admin steward auditor analyst reviewer gone nobody; do
    case $who in nobody) t=dt_0000000000000000000000000000000000000000000000000000000000000000 ;; *) t=$(tok $who) ;; esac
    for path in resolve entity export explain; do
        before=$(entries)
        read_path "$t" pi $path
        rc=$?
        after=$(entries)
        case $who in
        analyst | reviewer) want=0 ;;
        *) want=1 ;;
        esac
        if [ $rc -ne $want ] || [ "$after" -ne $((before + 1)) ]; then
            bad "$who $path under pi" "rc=$rc (want $want), audit entries $before -> $after: $(cat "$T/err")"
            continue
        fi
        case $who in
        admin | steward | auditor) grep -q "may not" "$T/err" || { bad "$who $path: denial says why" "$(cat "$T/err")"; continue; } ;;
        gone | nobody) grep -q "token is not valid" "$T/err" || { bad "$who $path: bad token" "$(cat "$T/err")"; continue; } ;;
        esac
        ok "$who $path under pi: exit $rc, one audit entry"
    done
done
denied=$(sql "$S" "SELECT count(*) FROM audit WHERE outcome = 'denied' AND purpose = 'pi'")
[ "$denied" = 20 ] && ok "20 denials on the audit log, each with its purpose" || bad "denials logged" "$denied"
[ "$(sql "$S" "SELECT count(*) FROM audit WHERE outcome = 'denied' AND principal = ''")" -ge 8 ] \
    && ok "unauthenticated requests are logged with no principal" || bad "unauthenticated logged"

# ---- nothing hidden leaks: records, columns, counts, links, error text -------------
A=$(tok analyst)
printf '%s' "$REC" | run_as "$A" pi resolve --source benefits >"$T/res" 2>"$T/err"
! grep -q '"source": "\(earners\|health\)"' "$T/res" && grep -q '"source": "benefits"' "$T/res" \
    && ok "resolve under pi: candidates of visible sources only" || bad "resolve under pi" "$(head -c 300 "$T/res")"
printf '%s' "$REC" | run_as "$A" test resolve --source benefits >"$T/res-all" 2>/dev/null
grep -q '"source": "\(earners\|health\)"' "$T/res-all" && ok "the same record has hidden candidates (so the test can fail)" \
    || bad "control: hidden candidates exist"
printf '%s' "$REC" | run_as "$A" dq resolve --source benefits >"$T/res-dq" 2>"$T/err"
grep -q '"dob": "withheld"' "$T/res-dq" && grep -q '"ssn": "withheld"' "$T/res-dq" \
    && grep -q '"surname": "[a-z]' "$T/res-dq" \
    && ok "resolve under dq: levels over withheld columns read 'withheld'" || bad "dq levels" "$(head -c 400 "$T/res-dq") $(cat "$T/err")"
run_as "$A" dq export --out "$T/dq.csv" 2>/dev/null
# A benefits record of someone who has a death record (from the generator's truth).
B_DQ=$(awk -F, 'NR == FNR { if ($1 == "deaths") dead[$3] = 1; next }
    $1 == "benefits" && ($3 in dead) { print $2; exit }' "$G/truth.csv" "$G/truth.csv")
E_DQ=$(awk -F, -v b="$B_DQ" '$1 == "benefits" && $2 == b { print $3 }' "$T/dq.csv")
run_as "$A" dq entity "$E_DQ" >"$T/ent-dq" 2>"$T/err"
grep "^benefits:$B_DQ	" "$T/ent-dq" | grep -q '"LAST_NAME"' && ! grep "^benefits:" "$T/ent-dq" | grep -q '"SSN"\|"DOB"\|"ZIP"' \
    && grep "^deaths:" "$T/ent-dq" | grep -q '"ssn"' \
    && ok "entity under dq: benefits rows show only their id and names, deaths rows all" || bad "dq entity fields" "$(cat "$T/ent-dq" "$T/err")"
# link_with names other sources: health's own duplicates may still link.
alone=$(awk -F, 'NR > 1 { if ($1 == "health") h[$3] = 1; else o[$3] = 1 }
    END { for (e in h) if (e in o) bad++; print bad + 0 }' "$T/dq.csv")
[ "$(grep -c '^health,' "$T/dq.csv")" -gt 0 ] && [ "$alone" = 0 ] \
    && ok "under dq, health links to no other source: no entity joins health and another" \
    || bad "dq health unlinked" "$alone shared"
run_as "$A" pi entity "$(awk -F, -v h="$H" '$1 == "health" && $2 == h { print $3 }' "$T/full.csv")" >/dev/null 2>"$T/err-hidden"
run_as "$A" pi entity E0123456789abcdef >/dev/null 2>"$T/err-none"
sed "s/'[^']*'/X/" "$T/err-hidden" >"$T/e1"
sed "s/'[^']*'/X/" "$T/err-none" >"$T/e2"
cmp -s "$T/e1" "$T/e2" && grep -q "no entity" "$T/e1" \
    && ok "an entity of hidden records reads as no entity at all" || bad "hidden entity error" "$(cat "$T/err-hidden" "$T/err-none")"
run_as "$A" pi explain "benefits:$B" "health:$H" >/dev/null 2>"$T/err-hidden"
run_as "$A" pi explain "benefits:$B" "health:nope" >/dev/null 2>"$T/err-none"
sed "s/health:[^ ]*/X/" "$T/err-hidden" >"$T/e1"
sed "s/health:[^ ]*/X/" "$T/err-none" >"$T/e2"
cmp -s "$T/e1" "$T/e2" && ok "explain: a hidden record reads as an absent one" || bad "explain hidden" "$(cat "$T/err-hidden" "$T/err-none")"
run_as "$A" dq explain "benefits:$B" "deaths:$(awk -F, 'NR == 2 { print $1 }' "$G/deaths.csv")" >"$T/ex-dq" 2>"$T/err"
grep -q '^surname' "$T/ex-dq" && grep -q '^given' "$T/ex-dq" && ! grep -q '^dob\|^ssn\|^zip' "$T/ex-dq" \
    && ok "explain under dq: only comparisons over shown columns" || bad "explain dq rows" "$(cat "$T/ex-dq" "$T/err")"
echo '{"member_id": "q"}' | run_as "$A" pi resolve --source health >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "does not allow purpose 'pi'" "$T/err" && ok "resolve of a hidden source's record is denied" \
    || bad "resolve hidden source" "rc=$rc $(cat "$T/err")"
run_as "$A" nothing export --out "$T/none.csv" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && [ ! -e "$T/none.csv" ] && grep -q "no source's policy allows purpose 'nothing'" "$T/err" \
    && ok "a purpose no policy names sees no record, and is told so" || bad "unnamed purpose" "rc=$rc $(cat "$T/err")"
run_as "$A" "" export --out "$T/x.csv" >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && ok "no purpose, no read" || bad "empty purpose"

# ---- an expired agreement stops linkage, with no code change -----------------------
printf '%s' "$REC" | DOVETAIL_TEST_NOW=2027-01-31 run_as "$A" old resolve --source benefits >/dev/null 2>"$T/err" \
    && ok "on its last day the agreement holds" || bad "agreement on its last day" "$(cat "$T/err")"
printf '%s' "$REC" | DOVETAIL_TEST_NOW=2027-02-01 run_as "$A" old resolve --source benefits >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "agreement CMA-OLD for purpose 'old' expired after 2027-01-31" "$T/err" \
    && ok "the day after, linkage stops and says why" || bad "expired agreement" "rc=$rc $(cat "$T/err")"
DOVETAIL_TEST_NOW=2027-02-01 run_as "$A" old export --out "$T/old.csv" 2>"$T/err"
[ "$(wc -l <"$T/old.csv")" = 1 ] && grep -q "expired" "$T/err" && ok "export after expiry: no records, and a warning" \
    || bad "export after expiry" "$(cat "$T/err")"
cat >"$T/long.yaml" <<EOF
purposes:
  pi:
    allowed: true
    agreement: X
    expires: $(date -u -d '+40 months' +%F)
    fields: all
EOF
DOVETAIL_TOKEN=$(tok steward) "$DT" policy set --source deaths --store "$S" --purpose setup "$T/long.yaml" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "long.yaml:5:.*30 months" "$T/err" && ok "an agreement over 30 months is refused, by line" \
    || bad "30-month bound" "rc=$rc $(cat "$T/err")"
DOVETAIL_TOKEN=$(tok analyst) "$DT" policy set --source deaths --store "$S" --purpose setup "$T/long.yaml" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "may not" "$T/err" && ok "only a steward sets a policy" || bad "policy by analyst" "$(cat "$T/err")"

# ---- disclosures --------------------------------------------------------------------
DOVETAIL_TOKEN=$(tok auditor) "$DT" disclosures --record "benefits:$B" --store "$S" --purpose oversight >"$T/disc" 2>"$T/err"
grep -q '"principal": "analyst", "purpose": "pi", "action": "entity.get"' "$T/disc" && grep -q '"action": "entity.export"' "$T/disc" \
    && ! grep -q '"principal": "admin"' "$T/disc" \
    && ok "disclosures list who saw the record, for what, and which fields" || bad "disclosures" "$(head -n 3 "$T/disc") $(cat "$T/err")"
n_disc=$(wc -l <"$T/disc")
n_log=$(sql "$S" "SELECT count(*) FROM audit_subject s JOIN audit a ON a.seq = s.seq WHERE s.subject = 'benefits:$B' AND a.outcome = 'allowed'")
[ "$n_disc" = "$n_log" ] && ok "disclosures agree with the audit log ($n_disc)" || bad "disclosures vs log" "$n_disc vs $n_log"
run_as "$A" pi disclosures --record "benefits:$B" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "may not" "$T/err" && ok "disclosures are for auditors" || bad "disclosures role"

# ---- the audit log: verify, prove, consistency, and tampering ---------------------------
U=$(tok auditor)
audit() { DOVETAIL_TOKEN=$U "$DT" audit "$@" --store "$S" --purpose oversight; }
audit verify >"$T/v" 2>&1 && grep -q "verdict *ok" "$T/v" && ok "audit verify: an untouched log checks out" || bad "verify clean" "$(cat "$T/v")"
audit head >"$T/head1.json" 2>/dev/null
audit witness --out "$T/witness" 2>/dev/null
audit prove --seq 5 >"$T/proof" 2>&1 && grep -q '"verified":true' "$T/proof" && ok "audit prove: entry 5's inclusion proof verifies" \
    || bad "prove" "$(cat "$T/proof")"
audit consistency "$T/head1.json" >"$T/cons" 2>&1 && grep -q '"consistent":true' "$T/cons" \
    && ok "audit consistency: the log only grew since an earlier head" || bad "consistency" "$(cat "$T/cons")"
# Each tampering is done to a copy of the store (be_copy: no process holds $S
# open here), as its owner would, in SQL.
tamper() { # name sql want_first_bad [witness]
    TS=$(be_copy "$S" t) || { bad "tamper: $1" "the store could not be copied"; return; }
    sql "$TS" "$2" || { bad "tamper: $1" "the tampering SQL failed"; return; }
    DOVETAIL_TOKEN=$U "$DT" audit verify --store "$TS" --purpose oversight ${4:+--witness "$4"} >"$T/v" 2>&1; rc=$?
    if [ $rc -eq 1 ] && grep -q "verdict *BAD" "$T/v" && grep -q "first bad entry $3\$" "$T/v"; then ok "tamper: $1 -> entry $3 named"
    else bad "tamper: $1" "rc=$rc $(cat "$T/v")"; fi
}
tamper "edit a purpose" "UPDATE audit SET purpose = 'other' WHERE seq = 9" 9
tamper "edit a subject" "UPDATE audit_subject SET subject = 'x:y' WHERE seq = (SELECT min(seq) FROM audit_subject WHERE seq > 12)" \
    "$(sql "$S" 'SELECT min(seq) FROM audit_subject WHERE seq > 12')"
tamper "delete an entry" "DELETE FROM audit WHERE seq = 14" 14
tamper "reorder two entries" "UPDATE audit SET seq = -seq WHERE seq IN (20, 21); UPDATE audit SET seq = 21 WHERE seq = -20; UPDATE audit SET seq = 20 WHERE seq = -21" 20
tamper "insert an entry in the middle" "UPDATE audit SET seq = -(seq + 1) WHERE seq >= 30; UPDATE audit SET seq = -seq WHERE seq < 0; INSERT INTO audit SELECT 30, time, principal, purpose, 'nothing', fields, outcome, n_subjects, leaf_hash FROM audit WHERE seq = 29" 30
N=$(sql "$S" 'SELECT max(seq) FROM audit')
tamper "append an entry" "INSERT INTO audit SELECT seq + 1, time, principal, purpose, action, fields, outcome, 0, leaf_hash FROM audit WHERE seq = $N" $((N + 1))
# Truncation at a signed head, keeping the heads below: every signature is
# genuine, so only a witness of a later head catches it.
K=$(sql "$S" "SELECT max(size) FROM tree_head WHERE size <= $((N - 10))")
TRUNC="DELETE FROM audit_subject WHERE seq > $K; DELETE FROM audit WHERE seq > $K; DELETE FROM tree_head WHERE size > $K"
TS=$(be_copy "$S" t) && sql "$TS" "$TRUNC" || bad "truncation" "the store could not be copied and cut"
# the administrator serves on: a request signs a new head over the cut log
DOVETAIL_TOKEN=$A "$DT" export --store "$TS" --purpose pi --out "$T/x.csv" 2>/dev/null
DOVETAIL_TOKEN=$U "$DT" audit verify --store "$TS" --purpose oversight >"$T/v" 2>&1 \
    && ok "truncated and re-signed: verify alone passes (what a witness is for)" || bad "truncation without witness" "$(cat "$T/v")"
DOVETAIL_TOKEN=$U "$DT" audit verify --store "$TS" --purpose oversight --witness "$T/witness" >"$T/v" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "first bad entry $((K + 1))$" "$T/v" \
    && ok "truncated and re-signed: the witness names entry $((K + 1))" || bad "truncation with witness" "$(cat "$T/v")"
TS=$(be_copy "$S" t) && sql "$TS" "UPDATE audit SET outcome = 'denied' WHERE seq = 9" || bad "edit" "the store could not be copied and edited"
DOVETAIL_TOKEN=$A "$DT" export --store "$TS" --purpose pi --out "$T/x.csv" 2>/dev/null
DOVETAIL_TOKEN=$U "$DT" audit verify --store "$TS" --purpose oversight >"$T/v" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "first bad entry 9$" "$T/v" && ok "requests after an edit do not launder it: entry 9 still named" \
    || bad "edit then more requests" "$(cat "$T/v")"
sql "$TS" "INSERT INTO audit SELECT seq + 100000, time, principal, purpose, action, fields, outcome, n_subjects, leaf_hash FROM audit WHERE seq = 1" \
    || bad "forged entry" "the INSERT failed"
DOVETAIL_TOKEN=$A "$DT" export --store "$TS" --purpose pi --out "$T/x.csv" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "written outside dovetail" "$T/err" && ok "a log with unsigned entries refuses to serve (fails closed)" \
    || bad "fail closed" "rc=$rc $(cat "$T/err")"

printf 'govern (%s): %d passed, %d failed\n' "$(be_name)" "$passed" "$failed"
[ "$failed" -eq 0 ]
