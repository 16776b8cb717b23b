#!/bin/sh
# End-to-end: a store kept in PostgreSQL (--store postgresql://...), on a
# private PostgreSQL 15 this script starts (tests/pg-server: a Unix socket
# only, no password anywhere). The CLI's governed path on it: init,
# principals, policies, ingest, train, export (batch link's entities),
# resolve, disclosures, audit verify; two ingests of different sources at
# once (one append-only log, no gap); a bulk ingest killed and run again;
# the wrong key file; a URL's password never printed; a server reached
# over TLS only, its certificate verified (sslmode=verify-full).
# Usage: tests/e2e/pg_test.sh /abs/path/to/dovetail
set -u
DT=${1:?usage: pg_test.sh DOVETAIL}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DATA=$ROOT/../shared/data/febrl
. "$HERE/lib.sh"
. "$HERE/govern_lib.sh" # gv_policy
T=$(mktemp -d /tmp/dovetail-pg.XXXXXX)
BACKEND=pg
trap 'be_stop; rm -rf "$T"' EXIT
be_start || exit 1
export DOVETAIL_KEY_FILE="$T/s.key"
db() { new_store "$1"; } # a database per store
as_pg() { # role store command args...
    _r=$1 _s=$2 _c=$3
    shift 3
    DOVETAIL_TOKEN=$(cat "$T/$_r") "$DT" "$_c" --store "$_s" --purpose test "$@"
}

U=$(db s)
"$DT" init --store "$U" --config "$ROOT/examples/febrl4.yaml" --token-out "$T/admin" \
    >/dev/null 2>"$T/init.err" && ok "init creates a store in PostgreSQL" ||
    bad "init on PostgreSQL" "$(cat "$T/init.err")"
for r in steward analyst auditor; do
    DOVETAIL_TOKEN=$(cat "$T/admin") "$DT" principal add "$r" --role "$r" \
        $([ $r = steward ] && echo "--source a,b") --store "$U" --purpose setup >"$T/$r" 2>/dev/null
done
gv_policy test "$(date -u -d '+700 days' +%F)" all all >"$T/policy.yaml"
for s in a b; do
    DOVETAIL_TOKEN=$(cat "$T/steward") "$DT" policy set --source $s --store "$U" \
        --purpose setup "$T/policy.yaml" >/dev/null 2>&1
done
[ "$(sql "$U" "SELECT count(*) FROM principal")" = 4 ] && [ "$(sql "$U" "SELECT count(*) FROM policy")" = 2 ] \
    && ok "principals and policies stored" || bad "principals and policies"
tok=$(cat "$T/analyst")
[ "$(sql "$U" "SELECT count(*) FROM principal WHERE token_hash = sha256('$tok'::bytea)")" = 1 ] &&
    [ "$(sql "$U" "SELECT count(*) FROM principal WHERE position('$tok' in name || role || sources || encode(token_hash, 'escape')) > 0")" = 0 ] \
    && ok "tokens stored as their SHA-256 only" || bad "tokens hashed"

as_pg steward "$U" ingest -q --source a "$DATA/dataset4a.csv" 2>"$T/ia.err" &&
    as_pg steward "$U" ingest -q --source b "$DATA/dataset4b.csv" 2>"$T/ib.err" \
    && ok "ingest of both sources" || bad "ingest" "$(cat "$T/ia.err" "$T/ib.err")"
[ "$(sql "$U" "SELECT count(*) FROM record")" = 10000 ] && ok "10000 records stored" || bad "records stored"
n=$(sql "$U" "SELECT count(*) FROM record WHERE position('rec-1-org' in encode(raw, 'escape')) > 0")
[ "$n" = 0 ] && ok "record contents sealed in the database" || bad "sealed at rest" "$n"

DOVETAIL_TOKEN=$(cat "$T/admin") "$DT" train -q --store "$U" --purpose test 2>"$T/train.err" \
    && ok "train fits and resolves on PostgreSQL" || bad "train" "$(tail -n 3 "$T/train.err")"
"$DT" link -q --config "$ROOT/examples/febrl4.yaml" --out "$T/batch" 2>/dev/null
as_pg analyst "$U" export --out "$T/pg.csv" 2>/dev/null
partition "$T/batch/entities.csv" >"$T/batch.part"
partition "$T/pg.csv" >"$T/pg.part"
[ -s "$T/pg.part" ] && cmp -s "$T/batch.part" "$T/pg.part" \
    && ok "the store's entities equal batch link's ($(wc -l <"$T/pg.part"))" \
    || bad "entities equal batch" "$(diff "$T/batch.part" "$T/pg.part" | head -n 3)"
echo '{"rec_id": "q", "given_name": "michaela", "surname": "neumann", "date_of_birth": "19151111"}' |
    as_pg analyst "$U" resolve --source b >"$T/res.json" 2>"$T/res.err"
grep -q '"record_id": "rec-1070-org"' "$T/res.json" && ok "resolve finds the candidate" \
    || bad "resolve" "$(cat "$T/res.err")"
as_pg auditor "$U" disclosures --record a:rec-1-org >"$T/disc.txt" 2>&1
grep -q '"action": "entity.export"' "$T/disc.txt" && ok "disclosures list the export" \
    || bad "disclosures" "$(head -c 300 "$T/disc.txt")"

# Two ingests of different sources at once, from two processes: both
# complete (one waits for the other's write), and the log stays one
# sequence with no gap.
sed 's/rec-\([0-9]*\)-org/rec-\1-new/' "$DATA/dataset4a.csv" >"$T/a2.csv"
sed 's/rec-\([0-9]*\)-dup/rec-\1-nxt/' "$DATA/dataset4b.csv" >"$T/b2.csv"
as_pg steward "$U" ingest -q --no-bulk --source a "$T/a2.csv" 2>"$T/c1.err" &
p1=$!
as_pg steward "$U" ingest -q --no-bulk --source b "$T/b2.csv" 2>"$T/c2.err" &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
[ $r1 = 0 ] && [ $r2 = 0 ] && [ "$(sql "$U" "SELECT count(*) FROM record")" = 20000 ] \
    && ok "two concurrent ingests both complete" || bad "concurrent ingests" "$r1 $r2 $(cat "$T/c1.err" "$T/c2.err")"
gaps=$(sql "$U" "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (ORDER BY seq) AS prev FROM audit) x WHERE prev IS NOT NULL AND seq <> prev + 1")
first=$(sql "$U" "SELECT min(seq) FROM audit")
[ "$gaps" = 0 ] && [ "$first" = 1 ] && ok "the audit log is one sequence from 1, no gap" || bad "audit sequence" "$gaps $first"
DOVETAIL_TOKEN=$(cat "$T/auditor") "$DT" audit verify --store "$U" --purpose oversight \
    >"$T/verify.txt" 2>&1 && grep -q "ok: every entry" "$T/verify.txt" \
    && ok "audit verify passes" || bad "audit verify" "$(cat "$T/verify.txt")"

# A bulk ingest killed: the store as before it; run again, complete.
before=$(sql "$U" "SELECT (SELECT count(*) FROM record) || '/' || (SELECT count(*) FROM membership) || '/' || (SELECT count(*) FROM link)")
sed 's/rec-\([0-9]*\)-org/rec-\1-bulk/' "$DATA/dataset4a.csv" >"$T/a3.csv"
as_pg steward "$U" ingest -q --bulk --source a "$T/a3.csv" 2>/dev/null &
pid=$!
sleep 0.5
kill -9 $pid 2>/dev/null && killed=1 || killed=0
wait $pid 2>/dev/null
now=$(sql "$U" "SELECT (SELECT count(*) FROM record) || '/' || (SELECT count(*) FROM membership) || '/' || (SELECT count(*) FROM link)")
[ $killed = 0 ] || [ "$now" = "$before" ] && ok "a killed bulk ingest leaves the store as before ($killed kill)" \
    || bad "killed bulk ingest" "$before -> $now"
as_pg steward "$U" ingest -q --bulk --source a "$T/a3.csv" 2>"$T/bulk.err" &&
    [ "$(sql "$U" "SELECT count(*) FROM record")" = 25000 ] \
    && ok "run again, the bulk ingest completes" || bad "bulk ingest again" "$(cat "$T/bulk.err")"

# The wrong key file, and a URL's password.
"$DT" init --store "$(db other)" --config "$ROOT/examples/febrl4.yaml" --key "$T/other.key" \
    --token-out "$T/other.admin" >/dev/null 2>&1
DOVETAIL_TOKEN=$(cat "$T/analyst") "$DT" export --store "$U" --purpose test --key "$T/other.key" \
    --out "$T/x.csv" >/dev/null 2>"$T/key.err"; rc=$?
[ $rc -ne 0 ] && grep -q "key file" "$T/key.err" && ok "another store's key file is refused" \
    || bad "wrong key" "rc=$rc $(cat "$T/key.err")"
bad_url="postgresql://who:hunter2@/nodb?host=$PGD"
DOVETAIL_TOKEN=x "$DT" export --store "$bad_url" --purpose test --out "$T/x.csv" >/dev/null 2>"$T/pw.err"; rc=$?
[ $rc -ne 0 ] && ! grep -q hunter2 "$T/pw.err" && grep -q "postgresql://who@" "$T/pw.err" \
    && ok "a failed connection names the store without its password" || bad "password shown" "$(cat "$T/pw.err")"

# TLS: a second server on 127.0.0.1 that takes TLS connections only, its
# certificate checked against the test CA (sslmode=verify-full).
TLSD=$(mktemp -d -u /tmp/dovetail-pgtls.XXXXXX)
trap 'be_stop; "$ROOT/tests/pg-server" stop "$TLSD"; rm -rf "$T"' EXIT
if TLS=$("$ROOT/tests/pg-server" start "$TLSD" --tls); then
    psql -q "$TLS" -c "CREATE DATABASE tls" >/dev/null
    TU=$(echo "$TLS" | sed 's|/postgres?|/tls?|')
    "$DT" init --store "$TU" --config "$ROOT/examples/febrl4.yaml" --key "$T/tls.key" \
        --token-out "$T/tls.admin" >/dev/null 2>"$T/tls.err" &&
        DOVETAIL_TOKEN=$(cat "$T/tls.admin") "$DT" principal add st --role steward --source a \
            --store "$TU" --purpose setup --key "$T/tls.key" >"$T/tls.steward" 2>>"$T/tls.err" &&
        head -n 501 "$DATA/dataset4a.csv" >"$T/tls.csv" &&
        DOVETAIL_TOKEN=$(cat "$T/tls.steward") "$DT" ingest -q --store "$TU" --purpose test \
            --key "$T/tls.key" --source a "$T/tls.csv" 2>>"$T/tls.err" &&
        [ "$(psql -tAq "$TU" -c "SELECT count(*) FROM record")" = 500 ] \
        && ok "a store over TLS (sslmode=verify-full; the server takes nothing else)" \
        || bad "store over TLS" "$(cat "$T/tls.err")"
    openssl req -x509 -new -nodes -days 1 -subj "/CN=another CA" -newkey rsa:2048 \
        -keyout "$T/other-ca.key" -out "$T/other-ca.crt" 2>/dev/null
    wrong=$(echo "$TU" | sed "s|sslrootcert=[^&]*|sslrootcert=$T/other-ca.crt|")
    DOVETAIL_TOKEN=$(cat "$T/tls.steward") "$DT" ingest -q --store "$wrong" --purpose test \
        --key "$T/tls.key" --source a "$T/tls.csv" >/dev/null 2>"$T/tls2.err"; rc=$?
    [ $rc -ne 0 ] && grep -q "certificate verify failed" "$T/tls2.err" \
        && ok "a server certificate the CA did not sign is refused" || bad "wrong CA" "rc=$rc $(cat "$T/tls2.err")"
    plain=$(echo "$TU" | sed 's|sslmode=verify-full|sslmode=disable|')
    DOVETAIL_TOKEN=$(cat "$T/tls.steward") "$DT" ingest -q --store "$plain" --purpose test \
        --key "$T/tls.key" --source a "$T/tls.csv" >/dev/null 2>"$T/tls3.err"; rc=$?
    [ $rc -ne 0 ] && grep -q "no encryption" "$T/tls3.err" \
        && ok "the same server refuses a connection without TLS" || bad "plain refused" "rc=$rc $(cat "$T/tls3.err")"
else
    bad "PostgreSQL with TLS starts"
fi

echo "pg: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
