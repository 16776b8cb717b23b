#!/bin/sh
# End-to-end tests of `dovetail serve --store postgresql://...`: the real
# server on a loopback port, driven with curl, over a store kept in a
# private PostgreSQL 15 this script starts (tests/pg-server, as pg_test.sh).
# Health; resolve under a purpose, one audit entry; a denial (role,
# purpose) answered 403 and audited; ingest over HTTP, the rows stored
# and found; every connection ended by the database, and the next
# requests answered all the same; an error naming the store says "the
# store", never its URL or password; then two servers on one store at once ("several dovetail
# serve processes behind a load balancer"), each with several workers,
# under concurrent resolves and ingests: every request answered and
# audited once, the log one sequence from 1 with no gap, both stopped
# with exit 0 and the log signed to its end, and `audit verify` passes.
# Usage: tests/e2e/server_pg_test.sh /abs/path/to/dovetail /abs/path/to/bench-gen
# Ends with "server-pg: N passed, N failed". Needs curl and psql.
set -u
DT=$1 GEN=$2
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d /tmp/dovetail-srvpg.XXXXXX)
PGD=$(mktemp -d -u /tmp/dovetail-pgsrv.XXXXXX)
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; "$ROOT/tests/pg-server" stop "$PGD"; rm -rf "$T"' EXIT
unset DOVETAIL_KEY_FILE
. "$HERE/govern_lib.sh"
. "$HERE/lib.sh"
SRV=$("$ROOT/tests/pg-server" start "$PGD") || { echo "FAIL  PostgreSQL starts"; exit 1; }
db() { # a database per store: the server's URL names database postgres
    psql -q "$SRV" -c "CREATE DATABASE $1" >/dev/null 2>&1
    echo "$SRV" | sed "s|:///postgres?|:///$1?|"
}
sql() { psql -tAq "$U" -c "$1"; }
n_audit() { sql "SELECT count(*) FROM audit"; }
S=$T/s.db # the token and key files' prefix (the store is at $U)
U=$(db s)

gv_bench_store "$T" "$U"
[ "$(sql "SELECT count(*) > 0 FROM record")" = t ] && [ "$(sql "SELECT count(*) FROM model")" -ge 1 ] \
    && ok "a governed bench store in PostgreSQL" || bad "bench store on PostgreSQL"

# start NAME STORE [ARGS...]: a server on a free loopback port; sets
# PID_NAME and URL_NAME.
start() {
    _n=$1 _st=$2
    shift 2
    rm -f "$T/serve_$_n.log"
    mkdir -p "$T/tmp"
    TMPDIR=$T/tmp "$DT" serve --store "$_st" --listen 127.0.0.1:0 "$@" 2>"$T/serve_$_n.log" &
    eval "PID_$_n=$!"
    PIDS="$PIDS $!"
    _i=0
    while [ $_i -lt 400 ] && ! grep -q "port [0-9]" "$T/serve_$_n.log" 2>/dev/null; do
        sleep 0.05
        _i=$((_i + 1))
    done
    eval "URL_$_n=http://127.0.0.1:$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$T/serve_$_n.log")"
}
# stop NAME: SIGTERM, and its exit status.
stop() {
    _p=$(eval "echo \$PID_$1")
    kill -TERM "$_p"
    wait "$_p"
}
# req URL ROLE METHOD PATH [curl args...]: the status on the first line, the body after.
req() {
    _u=$1 _role=$2 _m=$3 _p=$4
    shift 4
    _auth=""
    [ "$_role" = none ] || _auth="Authorization: Bearer $(cat "$S.$_role")"
    curl -s -o "$T/body.$$" -w '%{http_code}\n' -X "$_m" -H "$_auth" \
        -H "Dovetail-Purpose: ${PURPOSE:-test}" "$@" "$_u$_p"
    cat "$T/body.$$"
}
status() { head -n 1 "$1"; }
has() { grep -q -- "$2" "$1"; }

# The first benefits row as a JSON record (bench-gen's rows have no quoted fields).
head -n 2 "$T/g/benefits.csv" | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[i] = $i; next }
    { printf "{"; for (i = 1; i <= NF; i++) { v = (i == 1 ? "QUERY-1" : $i); gsub(/["\\]/, "", v)
      printf "%s\"%s\": \"%s\"", (i > 1 ? ", " : ""), h[i], v }; print "}" }' >"$T/record.json"
resolve() { # resolve URL ROLE: the reply of a resolve of the query row
    req "$1" "$2" POST /v1/sources/benefits/resolve -H 'Content-Type: application/json' \
        --data-binary @"$T/record.json"
}

# ---- one server: health, resolve, denials, ingest ------------------------------------------
start a "$U" --threads 4
req "$URL_a" none GET /healthz >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"status":"ok"' && ok "GET /healthz: 200" \
    || bad "healthz" "$(cat "$T/r" "$T/serve_a.log")"
before=$(n_audit)
resolve "$URL_a" analyst >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"candidates":\[{' && has "$T/r" '"probability"' \
    && ok "resolve under purpose test: 200 with candidates" || bad "resolve" "$(head -c 300 "$T/r")"
[ "$(n_audit)" = $((before + 1)) ] && [ "$(sql "SELECT action || ' ' || purpose || ' ' || outcome \
    FROM audit ORDER BY seq DESC LIMIT 1")" = "record.resolve test allowed" ] \
    && ok "one request, one audit entry (record.resolve, test, allowed)" \
    || bad "resolve audited" "$before -> $(n_audit)"
before=$(n_audit)
resolve "$URL_a" steward >"$T/r"
[ "$(status "$T/r")" = 403 ] && has "$T/r" '"code":"DT_EDENIED"' && ok "a steward may not resolve: 403" \
    || bad "steward resolve" "$(cat "$T/r")"
PURPOSE=marketing resolve "$URL_a" analyst >"$T/r"
[ "$(status "$T/r")" = 403 ] && ok "a purpose no policy allows: 403" || bad "purpose" "$(cat "$T/r")"
[ "$(n_audit)" = $((before + 2)) ] && [ "$(sql "SELECT string_agg(principal || '/' || purpose || '/' \
    || (outcome <> 'allowed'), ' ' ORDER BY seq) FROM audit WHERE seq > $before")" = \
    "steward/test/true analyst/marketing/true" ] \
    && ok "both refusals audited, neither as allowed" \
    || bad "denials audited" "$(sql "SELECT principal, purpose, outcome FROM audit WHERE seq > $before")"
{ head -n 1 "$T/g/benefits.csv"; sed -n '2,4p' "$T/g/benefits.csv" | sed 's/^/NEW-/'; } >"$T/new.csv"
req "$URL_a" steward POST /v1/sources/benefits/records -H 'Content-Type: text/csv' \
    --data-binary @"$T/new.csv" >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"new":3' && [ "$(sql "SELECT count(*) FROM record \
    WHERE record_id LIKE 'NEW-%' AND withdrawn = 0")" = 3 ] \
    && ok "ingest CSV rows over HTTP: 200, 3 new, stored" || bad "ingest" "$(cat "$T/r")"
resolve "$URL_a" analyst >"$T/r"
has "$T/r" "\"record_id\":\"NEW-$(sed -n 2p "$T/g/benefits.csv" | cut -d, -f1)\"" \
    && ok "a row ingested over HTTP is a candidate at once" || bad "ingested row resolved" "$(head -c 300 "$T/r")"
req "$URL_a" steward POST /v1/sources/benefits/records -H 'Content-Type: text/csv' \
    --data-binary @"$T/new.csv" >"$T/r"
has "$T/r" '"unchanged":3' && ok "the same rows again: unchanged" || bad "ingest again" "$(cat "$T/r")"

# The database ends every connection (a restart, a failover): the server
# connects again as each next transaction starts, and answers every
# request, its entries committed.
before=$(n_audit)
sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()" >/dev/null
rm -f "$T"/after_drop.*
jobs=""
for k in 1 2 3 4 5 6 7 8; do # at once: every worker's handle, not one again and again
    curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $(cat "$S.analyst")" \
        -H 'Dovetail-Purpose: test' -H 'Content-Type: application/json' \
        --data-binary @"$T/record.json" "$URL_a/v1/sources/benefits/resolve" >"$T/after_drop.$k" &
    jobs="$jobs $!"
done
for j in $jobs; do wait "$j"; done # not the servers
req "$URL_a" steward POST /v1/sources/benefits/records -H 'Content-Type: text/csv' \
    --data-binary @"$T/new.csv" | head -n 1 >"$T/after_drop.ingest"
cat "$T"/after_drop.* >"$T/after_drop"
[ "$(sort -u "$T/after_drop")" = 200 ] && [ "$(n_audit)" = $((before + 9)) ] \
    && ok "every connection ended by the database: the next requests answered (9 of 9) and audited" \
    || bad "connections lost" "$(sort "$T/after_drop" | uniq -c | tr '\n' ' ') entries +$(($(n_audit) - before))"

# An error naming the store names it "the store": not its URL, nor the
# password a URL may carry (trust authentication ignores it here).
U2=$(db nomodel)
GV_FILES=$T/n gv_setup "$U2" "$T/c.yaml" || bad "a store with no model set up"
start n "$U2&password=hunter2" --threads 2
_save=$S
S=$T/n
resolve "$URL_n" analyst >"$T/r"
S=$_save
[ "$(status "$T/r")" = 400 ] && has "$T/r" 'the store has no model' && ! has "$T/r" hunter2 \
    && ! has "$T/r" postgres && ! has "$T/r" "$PGD" \
    && ok "an error naming a PostgreSQL store says 'the store', not its URL or password" \
    || bad "store named in an error" "$(cat "$T/r")"
stop n || bad "the no-model server stops with 0"

# ---- two servers on one store, at once ---------------------------------------------------
start b "$U" --threads 4
[ -n "${URL_b#http://127.0.0.1:}" ] && ok "a second server on the same store starts" \
    || bad "second server" "$(cat "$T/serve_b.log")"
before=$(n_audit)
: >"$T/codes"
load() { # load URL N: N resolves, their statuses appended to $T/codes
    _k=0
    while [ $_k -lt "$2" ]; do
        curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $(cat "$S.analyst")" \
            -H 'Dovetail-Purpose: test' -H 'Content-Type: application/json' \
            --data-binary @"$T/record.json" "$1/v1/sources/benefits/resolve" >>"$T/codes.$$.$3"
        _k=$((_k + 1))
    done
}
ingests() { # ingests URL N TAG: N batches of 5 new rows, their statuses in $T/icodes.TAG
    _k=0
    while [ $_k -lt "$2" ]; do
        { head -n 1 "$T/g/benefits.csv"
          sed -n "$((10 + _k * 5)),$((14 + _k * 5))p" "$T/g/benefits.csv" | sed "s/^/$3-$_k-/"; } \
            >"$T/batch.$3"
        curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $(cat "$S.steward")" \
            -H 'Dovetail-Purpose: test' -H 'Content-Type: text/csv' \
            --data-binary @"$T/batch.$3" "$1/v1/sources/benefits/records" >>"$T/icodes.$3"
        _k=$((_k + 1))
    done
}
N=40
rm -f "$T"/codes.* "$T"/icodes.*
jobs=""
for w in 1 2 3; do
    load "$URL_a" $N a$w & jobs="$jobs $!"
    load "$URL_b" $N b$w & jobs="$jobs $!"
done
ingests "$URL_a" 6 IA & jobs="$jobs $!"
ingests "$URL_b" 6 IB & jobs="$jobs $!"
for j in $jobs; do wait "$j"; done
cat "$T"/codes.* >"$T/codes"
n200=$(grep -c '^200$' "$T/codes")
i200=$(cat "$T"/icodes.* | grep -c '^200$')
[ "$n200" = $((6 * N)) ] && [ "$i200" = 12 ] \
    && ok "two servers at once: $((6 * N)) resolves and 12 ingests over 6+2 clients, every one 200" \
    || bad "two servers' replies" "resolves: $(sort "$T/codes" | uniq -c | tr '\n' ' ') ingests: $(cat "$T"/icodes.* | sort | uniq -c | tr '\n' ' ')"
[ "$(sql "SELECT count(*) FROM record WHERE record_id LIKE 'I_-%' AND withdrawn = 0")" = 60 ] \
    && ok "both servers' ingests stored (60 rows)" \
    || bad "ingests stored" "$(sql "SELECT count(*) FROM record WHERE record_id LIKE 'I_-%'")"
added=$(($(n_audit) - before))
[ "$added" = $((6 * N + 12)) ] && ok "one audit entry per request ($added)" \
    || bad "entries per request" "$added for $((6 * N + 12)) requests"
[ "$(sql "SELECT count(*) FROM audit WHERE seq > $before AND action = 'record.resolve'")" = $((6 * N)) ] \
    && ok "each resolve's entry is there" || bad "resolve entries"
stop a && ok "server a: SIGTERM, exit 0" || bad "server a's exit" "$(cat "$T/serve_a.log")"
stop b && ok "server b: SIGTERM, exit 0" || bad "server b's exit" "$(cat "$T/serve_b.log")"
gaps=$(sql "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (ORDER BY seq) AS prev FROM audit) x
    WHERE prev IS NOT NULL AND seq <> prev + 1")
[ "$gaps" = 0 ] && [ "$(sql "SELECT min(seq) FROM audit")" = 1 ] \
    && [ "$(sql "SELECT max(seq) FROM audit")" = "$(n_audit)" ] \
    && ok "the audit log is one sequence from 1, no gap ($(n_audit) entries)" \
    || bad "audit sequence" "gaps $gaps, $(sql "SELECT min(seq), max(seq), count(*) FROM audit")"
[ "$(sql "SELECT max(size) FROM tree_head")" = "$(n_audit)" ] \
    && ok "the stopped servers left the log signed to its end" \
    || bad "signed to the end" "head $(sql "SELECT max(size) FROM tree_head"), log $(n_audit)"
DOVETAIL_KEY_FILE=$S.key DOVETAIL_TOKEN=$(cat "$S.auditor") "$DT" audit verify --store "$U" \
    --purpose oversight >"$T/verify" 2>&1 && has "$T/verify" "ok: every entry" \
    && ok "audit verify passes" || bad "audit verify" "$(cat "$T/verify")"
cat "$T"/serve_*.log | grep -v "^dovetail serve: \(listening\|SIGTERM\|stopped\)" >"$T/extra"
[ ! -s "$T/extra" ] && ok "the servers' logs hold nothing but their starts and stops" \
    || bad "the servers said more" "$(head -n 3 "$T/extra")"

echo "server-pg: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
