#!/bin/sh
# End-to-end tests of what binds the tables that decide access to the audit
# log, and of administration that cannot lock itself out:
#   - audit verify fails (with or without a witness) on a principal
#     un-revoked, added with a token of the attacker's choosing, or given
#     another role, a policy edited to expose a hidden source, a row deleted,
#     and a subject row no entry holds; each failure names the row;
#   - a log wiped with its heads, or cut below the entries the store's
#     principals and records imply, fails verify;
#   - verify runs on a store nobody can write (a full disk, a read-only
#     copy) and says its own entry could not be logged;
#   - the last active admin cannot be revoked;
#   - principal rotate: a new token, the old one revoked, one entry; a
#     revoked name can be added again.
# Usage: tests/e2e/binding_test.sh /abs/path/to/dovetail
# Ends with "binding: N passed, N failed". Needs the sqlite3 shell; the
# full-disk case mounts a small tmpfs when it may (root), else uses a
# read-only copy.
set -u
DT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DATA=$ROOT/../shared/data/febrl
T=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-binding.XXXXXX")
MNT=""
cleanup() {
    [ -n "$MNT" ] && umount "$MNT" 2>/dev/null
    chmod -R u+w "$T" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
. "$HERE/govern_lib.sh"
. "$HERE/lib.sh"

sed "s|\.\./\.\./shared/data/febrl/|$T/|" "$ROOT/examples/febrl4.yaml" >"$T/c.yaml"
head -n 301 "$DATA/dataset4a.csv" >"$T/dataset4a.csv"
head -n 301 "$DATA/dataset4b.csv" >"$T/dataset4b.csv"
S=$T/s.db
gv_setup "$S" "$T/c.yaml" || bad "governed store" "setup failed"
ADM=$(cat "$S.admin")
U=$(cat "$S.auditor")
admin() { DOVETAIL_TOKEN=$ADM "$DT" principal "$@" --store "$S" --purpose admin; }
admin add gone --role analyst >/dev/null 2>&1
admin revoke gone 2>/dev/null
# purpose "secret" may use source a only: b's policy does not name it
exp=$(date -u -d '+600 days' +%F)
{ gv_policy test "$exp" all all; printf '  secret:\n    allowed: true\n    agreement: S-1\n    expires: %s\n    fields: all\n    link_with: all\n' "$exp"; } >"$T/secret.yaml"
DOVETAIL_TOKEN=$(cat "$S.steward") "$DT" policy set --source a --store "$S" --purpose setup "$T/secret.yaml" 2>/dev/null
as steward "$S" ingest -q --source a "$T/dataset4a.csv" 2>/dev/null
as steward "$S" ingest -q --source b "$T/dataset4b.csv" 2>/dev/null
as admin "$S" train -q >/dev/null 2>&1
sqlite3 "$S" "SELECT subject FROM audit_subject WHERE seq = 1" | grep -q '^row,principal:1:admin:active:' \
    && ok "init's admin is entry 1 of the log, its row bound" || bad "entry 1" "$(sqlite3 "$S" 'SELECT * FROM audit_subject WHERE seq = 1')"

verify() { # STORE [WITNESS]: audit verify as the auditor, into $T/v; its exit status
    DOVETAIL_TOKEN=$U "$DT" audit verify --store "$1" --purpose oversight ${2:+--witness "$2"} >"$T/v" 2>&1
}
verify "$S" && grep -q "verdict *ok" "$T/v" && ok "audit verify: the untouched store checks out" \
    || bad "verify clean" "$(cat "$T/v")"
DOVETAIL_TOKEN=$U "$DT" audit witness --out "$T/witness" --store "$S" --purpose oversight 2>/dev/null

# ---- tables changed in SQLite, behind the log's back ---------------------------------------
tamper() { # name sql grep-pattern [witness]
    cp "$S" "$T/t.db"
    sqlite3 "$T/t.db" "$2"
    verify "$T/t.db" ${4:-}; rc=$?
    if [ $rc -eq 1 ] && grep -q "verdict *BAD" "$T/v" && grep -q "$3" "$T/v"; then ok "tamper: $1 -> caught"
    else bad "tamper: $1" "rc=$rc $(cat "$T/v")"; fi
}
tamper "un-revoke a principal (with a witness)" "UPDATE principal SET revoked = NULL WHERE name = 'gone'" \
    "principal 'gone' (row [0-9]*, analyst) is active, but entry [0-9]* revoked it" "$T/witness"
# the attacker's own token, whose hash is all they need to write
EVIL=dt_$(printf '%064d' 7)
EVIL_HASH=$(printf %s "$EVIL" | sha256sum | cut -c1-64)
cp "$S" "$T/e.db"
sqlite3 "$T/e.db" "INSERT INTO principal(name, role, sources, token_hash, created) VALUES('mallory', 'admin', '', X'$EVIL_HASH', 1)"
DOVETAIL_TOKEN=$EVIL "$DT" principal list --store "$T/e.db" --purpose x >/dev/null 2>&1 \
    && ok "(the inserted token works: what verify must catch)" || bad "inserted token"
tamper "insert a principal with a chosen token" \
    "INSERT INTO principal(name, role, sources, token_hash, created) VALUES('mallory', 'admin', '', X'$EVIL_HASH', 1)" \
    "principal 'mallory' (row [0-9]*, admin) is accounted for by no entry" "$T/witness"
tamper "make an analyst an admin" "UPDATE principal SET role = 'admin' WHERE name = 'analyst'" \
    "principal 'analyst' (row [0-9]*, admin) is not the row entry [0-9]* logged"
tamper "give a principal another token" "UPDATE principal SET token_hash = X'$EVIL_HASH' WHERE name = 'analyst'" \
    "principal 'analyst' .* is not the row entry"
tamper "delete a revoked principal" "DELETE FROM principal WHERE name = 'gone'" \
    "logged the row principal:[0-9]*, which the store no longer holds"
# b's policy edited to name "secret": the hidden source shows
EDIT="UPDATE policy SET text = (SELECT text FROM policy WHERE source = (SELECT id FROM source WHERE name = 'a') ORDER BY version DESC LIMIT 1) WHERE source = (SELECT id FROM source WHERE name = 'b')"
cp "$S" "$T/e.db"
DOVETAIL_TOKEN=$(cat "$S.analyst") "$DT" export --store "$T/e.db" --purpose secret --out "$T/x1.csv" 2>/dev/null
sqlite3 "$T/e.db" "$EDIT"
DOVETAIL_TOKEN=$(cat "$S.analyst") "$DT" export --store "$T/e.db" --purpose secret --out "$T/x2.csv" 2>/dev/null
! grep -q '^b,' "$T/x1.csv" && grep -q '^b,' "$T/x2.csv" \
    && ok "(the edited policy exposes source b to 'secret': what verify must catch)" || bad "policy edit exposes b"
tamper "edit a policy to expose a hidden source" "$EDIT" \
    "the policy of source 'b', version 1 is not the row entry [0-9]* logged" "$T/witness"
tamper "add a policy version" "INSERT INTO policy SELECT source, version + 1, text, set_by, time FROM policy WHERE source = 1 ORDER BY version DESC LIMIT 1" \
    "the policy of source 'a', version [0-9]* is accounted for by no entry"
tamper "rename a source (its policy goes with the name)" "UPDATE source SET name = 'x' || name WHERE name = 'b'" \
    "the policy of source 'xb'"
tamper "add a row to the disclosures index" "INSERT INTO audit_subject VALUES(0, 0, 'a:rec-1-org')" \
    "the disclosures index holds subject 'a:rec-1-org' under entry 0"

# ---- a log wiped, or cut below what the store implies ----------------------------------------
WIPE="DELETE FROM audit_subject; DELETE FROM audit; DELETE FROM tree_head"
tamper "wipe the log and its heads (no key needed)" "$WIPE" \
    "principal 'admin' (row 1, admin) is accounted for by no entry of the signed log (0 entries)"
cp "$S" "$T/t.db"
sqlite3 "$T/t.db" "$WIPE"
DOVETAIL_TOKEN=$ADM "$DT" principal list --store "$T/t.db" --purpose x >/dev/null 2>&1 # serves on, signing anew
verify "$T/t.db"; rc=$?
[ $rc -eq 1 ] && grep -q "principal 'admin' (row 1, admin) is accounted for by no entry" "$T/v" \
    && ok "a wiped log signed anew by later requests still fails" || bad "wiped then served" "rc=$rc $(cat "$T/v")"
# cut at the head before b's ingest: every principal and policy is bound, b's records are not
K=$(($(sqlite3 "$S" "SELECT min(seq) FROM audit_subject WHERE subject = 'source:b'") - 1))
tamper "cut the log below an ingest" "DELETE FROM audit_subject WHERE seq > $K; DELETE FROM audit WHERE seq > $K; DELETE FROM tree_head WHERE size > $K" \
    "source 'b' holds records, but no entry of the signed log ($K entries) ingested it"

# ---- verify on a store nobody can write ------------------------------------------------------
ro_verify() { # name store: verify must give its verdict and say its entry was not logged
    n0=$(sqlite3 "file:$2?mode=ro&immutable=1" 'SELECT count(*) FROM audit')
    verify "$2"; rc=$?
    [ $rc -eq 0 ] && grep -q "verdict *ok" "$T/v" && grep -q "own audit entry could not be logged" "$T/v" \
        && [ "$(sqlite3 "file:$2?mode=ro&immutable=1" 'SELECT count(*) FROM audit')" = "$n0" ] \
        && ok "verify on $1: the verdict, and its own entry not logged" || bad "verify on $1" "rc=$rc $(cat "$T/v")"
}
mkdir "$T/mnt"
if mount -t tmpfs -o size=4m tmpfs "$T/mnt" 2>/dev/null; then
    MNT=$T/mnt
    cp "$S" "$MNT/f.db"
    dd if=/dev/zero of="$MNT/fill" bs=1k 2>/dev/null
    ro_verify "a full disk" "$MNT/f.db"
    # a process holding the store open keeps SQLite's WAL index: the append itself fails
    rm -f "$MNT/fill" "$MNT"/f.db-*
    (echo 'SELECT count(*) FROM meta;'; sleep 8) | sqlite3 "$MNT/f.db" >/dev/null &
    holder=$!
    sleep 1
    dd if=/dev/zero of="$MNT/fill" bs=1k 2>/dev/null
    verify "$MNT/f.db"; rc=$?
    [ $rc -eq 0 ] && grep -q "verdict *ok" "$T/v" && grep -q "could not be logged: .*disk is full" "$T/v" \
        && ok "verify on a full disk, the store held open: the verdict, and why its entry is not logged" \
        || bad "verify on a full disk, held open" "rc=$rc $(cat "$T/v")"
    wait "$holder"
else
    mkdir "$T/ro" && cp "$S" "$T/ro/r.db" && chmod 0400 "$T/ro/r.db" && chmod 0500 "$T/ro"
    ro_verify "a read-only copy" "$T/ro/r.db"
fi

# ---- administration cannot lock itself out -----------------------------------------------------
admin revoke admin 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "last active admin" "$T/err" && admin list >/dev/null 2>&1 \
    && ok "the only admin cannot revoke itself, and still administers" || bad "last admin" "rc=$rc $(cat "$T/err")"
admin add admin2 --role admin >"$T/admin2" 2>/dev/null
admin revoke admin 2>/dev/null && ok "with a second admin, the first may go" || bad "revoke with a second admin"
DOVETAIL_TOKEN=$(cat "$T/admin2") "$DT" principal revoke admin2 --store "$S" --purpose admin 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "'admin2' is the last active admin" "$T/err" \
    && ok "then the remaining admin cannot revoke itself" || bad "last admin again" "rc=$rc $(cat "$T/err")"
ADM=$(cat "$T/admin2")

# ---- rotate, and a name given again ---------------------------------------------------------------
n0=$(sqlite3 "$S" 'SELECT count(*) FROM audit')
admin rotate steward >"$T/steward2" 2>"$T/err"; rc=$?
n1=$(sqlite3 "$S" 'SELECT count(*) FROM audit')
grep -Eq '^dt_[0-9a-f]{64}$' "$T/steward2" && [ $rc -eq 0 ] && [ $((n1 - n0)) -eq 1 ] \
    && ok "principal rotate prints a new token, in one audit entry" || bad "rotate" "rc=$rc $(cat "$T/err") entries $n0 -> $n1"
DOVETAIL_TOKEN=$(cat "$S.steward") "$DT" policy show --source a --store "$S" --purpose x >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "not valid" "$T/err" && ok "the old token no longer works" || bad "old token after rotate" "rc=$rc"
DOVETAIL_TOKEN=$(cat "$T/steward2") "$DT" policy show --source b --store "$S" --purpose x >/dev/null 2>&1 \
    && admin list 2>/dev/null | grep -q '^steward .* steward *a,b .*created [^ ]*$' \
    && ok "the new token holds the same role and sources" || bad "new token after rotate" "$(admin list 2>&1)"
admin rotate nobody 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "no active principal 'nobody'" "$T/err" && ok "rotate of no active principal fails" \
    || bad "rotate nobody" "rc=$rc $(cat "$T/err")"
admin add gone --role auditor >"$T/gone2" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && DOVETAIL_TOKEN=$(cat "$T/gone2") "$DT" audit head --store "$S" --purpose x >/dev/null 2>&1 \
    && ok "a revoked name is added again, as a new principal" || bad "name again" "rc=$rc $(cat "$T/err")"
admin add gone --role auditor 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "an active principal named 'gone' exists already" "$T/err" \
    && ok "but not twice while active" || bad "active name twice" "rc=$rc $(cat "$T/err")"
DOVETAIL_TOKEN=$(cat "$T/gone2") "$DT" audit verify --store "$S" --purpose oversight --witness "$T/witness" >"$T/v" 2>&1 \
    && ok "after all of it, the store verifies (with the witness)" || bad "final verify" "$(cat "$T/v")"
cp "$S" "$T/t.db"
# (the index that keeps one active row per name goes first: the attacker holds the file)
sqlite3 "$T/t.db" "DROP INDEX principal_active; UPDATE principal SET revoked = NULL WHERE name = 'steward' AND revoked IS NOT NULL"
verify "$T/t.db"; rc=$?
[ $rc -eq 1 ] && grep -q "principal 'steward' .* is active, but entry $n1 revoked it" "$T/v" \
    && ok "a rotated-out token made active again is caught (entry $n1)" || bad "un-revoke after rotate" "rc=$rc $(cat "$T/v")"

printf 'binding: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
