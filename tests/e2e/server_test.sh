#!/bin/sh
# End-to-end tests of `dovetail serve` (README, "The server"): the real
# server on a loopback port, driven with curl. Each served route answers;
# each error status has one JSON shape (401 no or bad token, 403 role or
# purpose, 404, 405, 409 a refused step, 413, 415, 400 naming the field);
# every request to a governed call is one audit entry; HTTPS with a
# self-signed certificate; SIGTERM stops it with exit 0 after the request
# in flight (an ingest, answered); a kill during an ingest leaves the store
# whole and the same body sent again after a restart completes it.
# Usage: tests/e2e/server_test.sh /abs/path/to/dovetail /abs/path/to/bench-gen
# Ends with "server: N passed, N failed". Needs curl, openssl and sqlite3.
set -u
DT=$1 GEN=$2
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-server.XXXXXX")
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$T"' EXIT
unset DOVETAIL_KEY_FILE
. "$HERE/govern_lib.sh"
. "$HERE/lib.sh"
S=$T/s.db

gv_bench_store "$T"

# start SCHEME [ARGS...]: the server on a free loopback port; sets PID, URL.
start() {
    _scheme=$1
    shift
    rm -f "$T/serve.log" # the redirect below opens it in the child: an old one would be read first
    mkdir -p "$T/tmp"
    TMPDIR=$T/tmp "$DT" serve --store "$S" --listen 127.0.0.1:0 "$@" 2>"$T/serve.log" &
    PID=$!
    i=0
    while [ $i -lt 400 ] && ! grep -q "port [0-9]" "$T/serve.log" 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
    URL="$_scheme://127.0.0.1:$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$T/serve.log")"
}
# req ROLE METHOD PATH [curl args...]: the status on the first line, the body after.
# Each JSON reply is kept in $T/replies for openapi_check.py (its route and status).
mkdir -p "$T/replies"
: >"$T/replies/index.tsv"
req() {
    _role=$1 _m=$2 _p=$3
    shift 3
    _auth=""
    [ "$_role" = none ] || _auth="Authorization: Bearer $(cat "$S.$_role" 2>/dev/null || echo "$_role")"
    curl -sk -o "$T/body" -w '%{http_code}\n%{content_type}\n' -X "$_m" -H "$_auth" \
        -H "Dovetail-Purpose: ${PURPOSE:-test}" "$@" "$URL$_p" >"$T/status"
    if sed -n 2p "$T/status" | grep -q '^application/json\(;.*\)\{0,1\}$'; then
        _n=$(($(wc -l <"$T/replies/index.tsv") + 1)) # not a variable: req may run in a subshell
        cp "$T/body" "$T/replies/$_n.json"
        printf '%s\t%s\t%s\t%s\n' "$_m" "${_p%%\?*}" "$(head -n 1 "$T/status")" "$_n.json" >>"$T/replies/index.tsv"
    fi
    head -n 1 "$T/status"
    cat "$T/body"
}
status() { head -n 1 "$1"; }
has() { grep -q -- "$2" "$1"; }
n_audit() { sqlite3 "$S" "SELECT count(*) FROM audit"; }

start http
req none GET /healthz >"$T/r" && [ "$(status "$T/r")" = 200 ] && has "$T/r" '"status":"ok"' \
    && ok "GET /healthz: 200" || bad "healthz" "$(cat "$T/r" "$T/serve.log")"

# ---- resolve, and its error statuses ------------------------------------------------------
# The first benefits row as a JSON record (bench-gen's rows have no quoted fields).
head -n 2 "$T/g/benefits.csv" | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[i] = $i; next }
    { printf "{"; for (i = 1; i <= NF; i++) { v = (i == 1 ? "QUERY-1" : $i); gsub(/["\\]/, "", v)
      printf "%s\"%s\": \"%s\"", (i > 1 ? ", " : ""), h[i], v }; print "}" }' >"$T/record.json"
before=$(n_audit)
req analyst POST /v1/sources/benefits/resolve -H 'Content-Type: application/json' \
    --data-binary @"$T/record.json" >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"candidates":\[{' && has "$T/r" '"probability"' \
    && ok "resolve: 200 with candidates" || bad "resolve" "$(head -c 300 "$T/r")"
[ "$(n_audit)" = $((before + 1)) ] && ok "one request, one audit entry" || bad "audit entries" "$before -> $(n_audit)"
req none POST /v1/sources/benefits/resolve -H 'Content-Type: application/json' --data-binary @"$T/record.json" >"$T/r"
[ "$(status "$T/r")" = 401 ] && has "$T/r" '"error":{"status":401' && ok "no token: 401, one error shape" \
    || bad "no token" "$(cat "$T/r")"
req dt_0000 POST /v1/sources/benefits/resolve -H 'Content-Type: application/json' --data-binary @"$T/record.json" >"$T/r"
[ "$(status "$T/r")" = 401 ] && ok "a token that is no one's: 401" || bad "bad token" "$(cat "$T/r")"
req steward POST /v1/sources/benefits/resolve -H 'Content-Type: application/json' --data-binary @"$T/record.json" >"$T/r"
[ "$(status "$T/r")" = 403 ] && has "$T/r" '"code":"DT_EDENIED"' && ok "a steward may not resolve: 403" \
    || bad "steward resolve" "$(cat "$T/r")"
PURPOSE=marketing req analyst POST /v1/sources/benefits/resolve -H 'Content-Type: application/json' \
    --data-binary @"$T/record.json" >"$T/r"
[ "$(status "$T/r")" = 403 ] && ok "a purpose no policy allows: 403" || bad "purpose" "$(cat "$T/r")"
req analyst POST /v1/sources/benefits/resolve -H 'Content-Type: text/plain' --data-binary @"$T/record.json" >"$T/r"
[ "$(status "$T/r")" = 415 ] && ok "not application/json: 415" || bad "415" "$(cat "$T/r")"
req analyst POST /v1/sources/benefits/resolve -H 'Content-Type: application/json' --data-binary '{"FIRST_NAME": "A",' >"$T/r"
[ "$(status "$T/r")" = 400 ] && has "$T/r" 'record:1:19' && ok "broken JSON: 400 saying where (line:column)" || bad "400" "$(cat "$T/r")"
req analyst POST /v1/sources/benefits/resolve -H 'Content-Type: application/json' --data-binary '{"NOT_A_COLUMN": "x"}' >"$T/r"
[ "$(status "$T/r")" = 400 ] && ! has "$T/r" '"field":""' && ok "a body the source cannot read: 400 naming the field" \
    || bad "field 400" "$(cat "$T/r")"
head -c 17000000 /dev/zero | tr '\0' ' ' >"$T/big"
req analyst POST /v1/sources/benefits/resolve -H 'Content-Type: application/json' --data-binary @"$T/big" >"$T/r"
[ "$(status "$T/r")" = 413 ] && ok "a body over 16 MiB: 413" || bad "413" "$(head -c 200 "$T/r")"
req analyst GET /v1/nowhere >"$T/r"
[ "$(status "$T/r")" = 404 ] && ok "no such route: 404" || bad "404 route" "$(cat "$T/r")"
req analyst DELETE /v1/findings >"$T/r"
[ "$(status "$T/r")" = 405 ] && ok "a method the path does not take: 405" || bad "405" "$(cat "$T/r")"

# ---- ingest, events, withdraw -------------------------------------------------------------
{ head -n 1 "$T/g/benefits.csv"; sed -n '2,4p' "$T/g/benefits.csv" | sed 's/^[^,]*,/NEW-&/; s/^NEW-\([^,]*\),/NEW-\1,/'; } >"$T/new.csv"
req steward POST /v1/sources/benefits/records -H 'Content-Type: text/csv' --data-binary @"$T/new.csv" >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"new":3' && ok "ingest CSV rows: 200, 3 new" || bad "ingest csv" "$(cat "$T/r")"
req steward POST /v1/sources/benefits/records -H 'Content-Type: text/csv' --data-binary @"$T/new.csv" >"$T/r"
has "$T/r" '"unchanged":3' && ok "the same rows again: unchanged" || bad "ingest again" "$(cat "$T/r")"
printf '[{"enrollment_id": "J-1", "FIRST_NAME": "ZOILA", "MIDDLE_NAME": null, "LAST_NAME": "SUAREZ", "DOB": "04/20/1930", "SSN": null, "ZIP": 38596, "PROGRAM": "SSI", "ENROLLED_ON": "2024-01-01"}]' >"$T/rows.json"
req steward POST /v1/sources/benefits/records -H 'Content-Type: application/json' --data-binary @"$T/rows.json" >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"new":1' && ok "ingest a JSON array of rows" || bad "ingest json" "$(cat "$T/r")"
# The resolve reply is written by hand, not by jansson: a record id with a
# quote, a backslash and an accent comes back as it went in, in valid JSON.
cat >"$T/odd.json" <<'EOF'
[{"enrollment_id": "J-\"q\\é", "FIRST_NAME": "ZOILA", "MIDDLE_NAME": null, "LAST_NAME": "SUAREZ", "DOB": "04/20/1930", "SSN": null, "ZIP": 38596, "PROGRAM": "SSI", "ENROLLED_ON": "2024-01-02"}]
EOF
req steward POST /v1/sources/benefits/records -H 'Content-Type: application/json' --data-binary @"$T/odd.json" >"$T/r"
printf '{"enrollment_id": "Q-ODD", "FIRST_NAME": "ZOILA", "LAST_NAME": "SUAREZ", "DOB": "04/20/1930", "ZIP": "38596"}' >"$T/oddq.json"
req analyst POST /v1/sources/benefits/resolve -H 'Content-Type: application/json' --data-binary @"$T/oddq.json" >"$T/r"
tail -n +2 "$T/r" | /usr/bin/python3 -c '
import json, sys
ids = [c["record_id"] for c in json.load(sys.stdin)["candidates"]]
sys.exit(0 if "J-\"q\\\u00e9" in ids else 1)' \
    && ok "resolve: a record id with a quote, a backslash and an accent comes back whole" \
    || bad "odd record id" "$(cat "$T/r")"
cat >"$T/oddw.json" <<'EOF'
{"ids": ["J-\"q\\é"]}
EOF
req steward POST /v1/sources/benefits/withdraw -H 'Content-Type: application/json' --data-binary @"$T/oddw.json" >"$T/r"
has "$T/r" '"withdrawn":1' || bad "odd record id withdrawn" "$(cat "$T/r")"
req steward POST /v1/sources/benefits/records -H 'Content-Type: application/json' \
    --data-binary '[{"enrollment_id": "J-2"}, {"enrollment_id": "J-3", "FIRST_NAME": {"x": 1}}]' >"$T/r"
[ "$(status "$T/r")" = 400 ] && has "$T/r" '"field":"/1/FIRST_NAME"' && ok "a row the first does not shape: 400 at /1/FIRST_NAME" \
    || bad "json rows 400" "$(cat "$T/r")"
cut -d, -f1-3 "$T/new.csv" >"$T/narrow.csv"
req steward POST /v1/sources/benefits/records -H 'Content-Type: text/csv' --data-binary @"$T/narrow.csv" >"$T/r"
[ "$(status "$T/r")" = 400 ] && has "$T/r" "is not in the header of the body" && ! has "$T/r" "/body\." \
    && ok "rows without a column: 400 naming the column and the body, not the server's file" \
    || bad "narrow csv" "$(cat "$T/r")"
req steward POST /v1/sources/benefits/records -H 'Content-Type: text/plain' --data-binary @"$T/new.csv" >"$T/r"
[ "$(status "$T/r")" = 415 ] && ok "rows as text/plain: 415" || bad "ingest 415" "$(cat "$T/r")"
req analyst POST /v1/sources/benefits/records -H 'Content-Type: text/csv' --data-binary @"$T/new.csv" >"$T/r"
[ "$(status "$T/r")" = 403 ] && ok "an analyst may not ingest: 403" || bad "analyst ingest" "$(cat "$T/r")"
{ head -n 1 "$T/g/payments.csv"; echo "PAPI-1,NEW-$(sed -n 2p "$T/g/benefits.csv" | cut -d, -f1),2025-01-01,10.00"; } >"$T/pay.csv"
req steward POST /v1/events/payments/rows -H 'Content-Type: text/csv' --data-binary @"$T/pay.csv" >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"new":1' && ok "ingest an event source's rows" || bad "events" "$(cat "$T/r")"
req steward POST /v1/sources/benefits/withdraw -H 'Content-Type: application/json' --data-binary '{"ids": ["J-1", "NO-SUCH"]}' >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"withdrawn":1,"unknown":1' && ok "withdraw by ids: 1 withdrawn, 1 unknown" \
    || bad "withdraw" "$(cat "$T/r")"
[ -z "$(ls -A "$T"/tmp/dovetail-serve.* 2>/dev/null)" ] \
    && ok "no body file is left behind" || bad "body files left" "$(ls -A "$T"/tmp/dovetail-serve.* | head -3)"

# ---- entity, explain, findings --------------------------------------------------------
req analyst POST /v1/sources/benefits/resolve -H 'Content-Type: application/json' --data-binary @"$T/record.json" >"$T/r"
E=$(tail -n 1 "$T/r" | sed -n 's/^{"entity":"\([^"]*\)".*/\1/p')
req analyst GET "/v1/entities/$E" >"$T/r"
[ -n "$E" ] && [ "$(status "$T/r")" = 200 ] && has "$T/r" '"records":\[{' && ok "GET an entity: its records as sent" \
    || bad "entity" "$E $(head -c 300 "$T/r")"
req analyst GET /v1/entities/E-none >"$T/r"
[ "$(status "$T/r")" = 404 ] && ok "an entity that is not there: 404" || bad "entity 404" "$(cat "$T/r")"
req analyst GET "/v1/explain?a=benefits:$(sed -n 2p "$T/g/benefits.csv" | cut -d, -f1)&b=benefits:$(sed -n 3p "$T/g/benefits.csv" | cut -d, -f1)" >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"rows":\[' && ok "explain a pair" || bad "explain" "$(head -c 300 "$T/r")"
req analyst GET "/v1/explain?a=benefits:x" >"$T/r"
[ "$(status "$T/r")" = 400 ] && has "$T/r" '"field":"b"' && ok "explain without b: 400 naming it" || bad "explain 400" "$(cat "$T/r")"
req analyst GET /v1/findings >"$T/r"
F=$(grep -o '"finding_id":"F[0-9a-f]*","rule":"duplicate_enrollment"' "$T/r" | head -n 1 | cut -d'"' -f4)
[ "$(status "$T/r")" = 200 ] && [ -n "$F" ] && ok "list findings" || bad "findings list" "$(head -c 300 "$T/r")"
req reviewer POST "/v1/findings/$F/verify" -H 'Content-Type: application/json' --data-binary '{"reason": "checked"}' >"$T/r"
[ "$(status "$T/r")" = 409 ] && has "$T/r" 'not shown to reviewer first' && ok "verify before show: 409" \
    || bad "verify before show" "$(cat "$T/r")"
req reviewer GET "/v1/findings/$F" >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"steps":\[' && ok "show a finding" || bad "show" "$(head -c 300 "$T/r")"
req reviewer POST "/v1/findings/$F/verify" -H 'Content-Type: application/json' --data-binary '{"reason": 5}' >"$T/r"
[ "$(status "$T/r")" = 400 ] && has "$T/r" '"field":"/reason"' && ok "a reason that is no string: 400 at /reason" \
    || bad "reason type" "$(cat "$T/r")"
req reviewer POST "/v1/findings/$F/verify" -H 'Content-Type: application/json' --data-binary '{"reason": "both confirmed"}' >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"state":"verified"' && ok "verify after show: 200" || bad "verify" "$(cat "$T/r")"
req reviewer POST "/v1/findings/$F/verify" -H 'Content-Type: application/json' --data-binary '{"reason": "again"}' >"$T/r"
[ "$(status "$T/r")" = 409 ] && ok "verify twice: 409" || bad "verify twice" "$(cat "$T/r")"
req analyst POST "/v1/findings/$F/notify" >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"state":"notified"' && ok "notify: 200" || bad "notify" "$(cat "$T/r")"
req analyst POST "/v1/findings/$F/contest" -H 'Content-Type: application/json' --data-binary '{"reason": "the person says the payments were to an estate"}' >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"state":"contested"' && ok "contest: 200" || bad "contest" "$(cat "$T/r")"
req analyst GET /v1/findings >"$T/r"
F2=$(grep -o '"finding_id":"F[0-9a-f]*","rule":"duplicate_enrollment"' "$T/r" | sed -n 2p | cut -d'"' -f4)
req reviewer GET "/v1/findings/$F2" >/dev/null
req reviewer POST "/v1/findings/$F2/dismiss" >"$T/r"
[ "$(status "$T/r")" = 400 ] && has "$T/r" '"field":"/reason"' && ok "dismiss without a reason: 400 at /reason" \
    || bad "dismiss no reason" "$(cat "$T/r")"
req reviewer POST "/v1/findings/$F2/dismiss" -H 'Content-Type: application/json' --data-binary '{"reason": "two people: different parents"}' >"$T/r"
[ -n "$F2" ] && [ "$(status "$T/r")" = 200 ] && has "$T/r" '"state":"dismissed"' && ok "dismiss after show: 200" \
    || bad "dismiss" "$F2 $(cat "$T/r")"
req analyst POST /v1/findings/run >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"found_again":' && ok "run the rules over HTTP" || bad "run" "$(cat "$T/r")"
req auditor GET /v1/audit/head >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"size"' && ok "the audit log's head" || bad "head" "$(cat "$T/r")"
req auditor GET /v1/audit/proofs/2 >"$T/r"
[ "$(status "$T/r")" = 200 ] && ok "an inclusion proof" || bad "proof" "$(cat "$T/r")"
req admin GET /v1/principals >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"name":"reviewer"' && ok "principals (admin)" || bad "principals" "$(cat "$T/r")"
req steward GET /v1/sources/benefits/policy >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"version":' && ok "a source's policy (its steward)" || bad "policy" "$(cat "$T/r")"

curl -s -o "$T/metrics" -w '%{http_code}' "$URL/metrics" >"$T/mstatus"
[ "$(cat "$T/mstatus")" = 200 ] \
    && grep -q 'dovetail_http_requests_total{method="POST",route="/v1/sources/{}/resolve",status="200"} [1-9]' "$T/metrics" \
    && grep -q 'dovetail_http_requests_total{method="POST",route="/v1/sources/{}/resolve",status="401"} 2' "$T/metrics" \
    && grep -q 'dovetail_http_request_duration_seconds_bucket{method="GET",route="/v1/findings",le="+Inf"} [1-9]' "$T/metrics" \
    && grep -q 'dovetail_denials_total{status="401"} [1-9]' "$T/metrics" \
    && grep -q 'dovetail_denials_total{status="403"} [1-9]' "$T/metrics" \
    && grep -q 'dovetail_ingest_rows_total{result="new"} [1-9]' "$T/metrics" \
    && grep -q '^dovetail_wal_resets_total [0-9]' "$T/metrics" \
    && grep -q '^dovetail_wal_reset_pause_seconds_max [0-9]' "$T/metrics" \
    && ok "GET /metrics: requests by route and status, latency histograms, denials, ingested rows, WAL resets (Prometheus text)" \
    || bad "metrics" "$(head -n 12 "$T/metrics")"
# every lone entry went through the committer: the group sizes add up to them
awk '/^dovetail_audit_group_size_sum/ { sum = $2 } /^dovetail_audit_group_size_count/ { n = $2 }
     /^dovetail_audit_group_size_bucket\{le="\+Inf"\}/ { inf = $2 }
     END { exit !(sum >= n && n == inf && n > 0) }' "$T/metrics" \
    && ok "GET /metrics: group commits, with the entries they made durable" \
    || bad "group metrics" "$(grep group_size "$T/metrics")"

# a write while another process holds the store's write lock: 409, once the wait (2 s) is over
(printf 'BEGIN IMMEDIATE;\nSELECT 1;\n'; sleep 4; printf 'COMMIT;\n') | sqlite3 "$S" >/dev/null &
lock=$!
sleep 0.5
req steward POST /v1/sources/benefits/withdraw -H 'Content-Type: application/json' --data-binary '{"ids": ["J-2"]}' >"$T/r"
wait $lock
[ "$(status "$T/r")" = 409 ] && has "$T/r" '"code":"DT_EBUSY"' && ! has "$T/r" "$S" \
    && ok "a write while the store is locked: 409, naming no file of the server's" \
    || bad "locked 409" "$(cat "$T/r")"

# ---- the other governed calls -------------------------------------------------------------
req admin POST /v1/purge >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"sources":\[{"source":' && ok "purge: what each source erased" \
    || bad "purge" "$(cat "$T/r")"
req analyst POST /v1/purge >"$T/r"
[ "$(status "$T/r")" = 403 ] && ok "an analyst may not purge: 403" || bad "purge 403" "$(cat "$T/r")"
req admin POST /v1/principals -H 'Content-Type: application/json' --data-binary '{"name": "clerk", "role": "analyst"}' >"$T/r"
CLERK=$(tail -n 1 "$T/r" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ "$(status "$T/r")" = 201 ] && [ -n "$CLERK" ] && ok "add a principal: 201 with its token (shown once)" \
    || bad "principal add" "$(cat "$T/r")"
echo "$CLERK" >"$S.clerk"
req clerk GET /v1/findings >"$T/r"
[ "$(status "$T/r")" = 200 ] && ok "the new principal's token works" || bad "clerk token" "$(head -c 200 "$T/r")"
req admin POST /v1/principals -H 'Content-Type: application/json' --data-binary '{"name": "x", "role": "king"}' >"$T/r"
[ "$(status "$T/r")" = 400 ] && has "$T/r" '"field":"/role"' && ok "a role that is none: 400 at /role" \
    || bad "bad role" "$(cat "$T/r")"
req admin POST /v1/principals -H 'Content-Type: application/json' --data-binary '{"role": "analyst"}' >"$T/r"
[ "$(status "$T/r")" = 400 ] && has "$T/r" '"field":"/name"' && ok "no name: 400 at /name" || bad "no name" "$(cat "$T/r")"
req analyst POST /v1/principals -H 'Content-Type: application/json' --data-binary '{"name": "y", "role": "admin"}' >"$T/r"
[ "$(status "$T/r")" = 403 ] && ok "an analyst may not add a principal: 403" || bad "add 403" "$(cat "$T/r")"
req admin POST /v1/principals/clerk/rotate >"$T/r"
NEW=$(tail -n 1 "$T/r" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ "$(status "$T/r")" = 200 ] && [ -n "$NEW" ] && [ "$NEW" != "$CLERK" ] && ok "rotate: a new token" || bad "rotate" "$(cat "$T/r")"
req clerk GET /v1/findings >"$T/r"
[ "$(status "$T/r")" = 401 ] && ok "the old token is refused at once: 401" || bad "old token" "$(head -c 200 "$T/r")"
echo "$NEW" >"$S.clerk"
req clerk GET /v1/findings >"$T/r"
[ "$(status "$T/r")" = 200 ] && ok "the rotated token works" || bad "new token" "$(head -c 200 "$T/r")"
req admin POST /v1/principals/clerk/revoke >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"revoked":true' && ok "revoke" || bad "revoke" "$(cat "$T/r")"
req clerk GET /v1/findings >"$T/r"
[ "$(status "$T/r")" = 401 ] && ok "a revoked token is refused at once: 401" || bad "revoked token" "$(head -c 200 "$T/r")"
req admin POST /v1/principals/nobody/revoke >"$T/r"
[ "$(status "$T/r")" = 404 ] && ok "revoke no one: 404" || bad "revoke 404" "$(cat "$T/r")"

req steward PUT /v1/sources/benefits/policy -H 'Content-Type: application/yaml' --data-binary @"$S.policy.yaml" >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"version":' && ok "set a policy (its steward)" || bad "policy set" "$(cat "$T/r")"
req steward PUT /v1/sources/benefits/policy -H 'Content-Type: application/yaml' --data-binary 'purposes: [' >"$T/r"
[ "$(status "$T/r")" = 400 ] && has "$T/r" 'the body' && ! has "$T/r" 'dovetail-serve' \
    && ok "a broken policy: 400 naming the body, not the server's file" || bad "policy 400" "$(cat "$T/r")"
req analyst PUT /v1/sources/benefits/policy -H 'Content-Type: application/yaml' --data-binary @"$S.policy.yaml" >"$T/r"
[ "$(status "$T/r")" = 403 ] && ok "an analyst may not set a policy: 403" || bad "policy 403" "$(cat "$T/r")"

req admin POST /v1/model/train >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"model_version":2' && ok "train over HTTP: model version 2" \
    || bad "train" "$(cat "$T/r")"
"$DT" link --config "$T/c.yaml" --out "$T/lk" -q >/dev/null 2>&1 || bad "link for a model.json"
req admin PUT /v1/model -H 'Content-Type: application/json' --data-binary @"$T/lk/model.json" >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"model_version":3' && ok "import a model.json: version 3" \
    || bad "model import" "$(head -c 300 "$T/r")"
req admin PUT /v1/model -H 'Content-Type: application/json' --data-binary '{"not": "a model"}' >"$T/r"
[ "$(status "$T/r")" = 422 ] && ! has "$T/r" 'dovetail-serve' && ok "a body that is no model for this config: 422" \
    || bad "model 400" "$(cat "$T/r")"

req analyst GET /v1/entities -D "$T/hdr" >"$T/r"
n_active=$(tail -n +2 "$T/r" | wc -l)
[ "$(status "$T/r")" = 200 ] && sed -n 2p "$T/r" | grep -q '^source,record_id,entity_id' \
    && grep -qi '^content-type: text/csv' "$T/hdr" && [ "$n_active" -gt 5000 ] \
    && ok "export entities: text/csv, streamed ($((n_active - 1)) records)" || bad "export" "$(head -c 300 "$T/r")"
req analyst GET /v1/findings/export >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"finding_id"' && ok "export findings: JSON" || bad "findings export" "$(head -c 300 "$T/r")"
req analyst GET /v1/findings/export -H 'Accept: text/csv' >"$T/r"
[ "$(status "$T/r")" = 200 ] && sed -n 2p "$T/r" | grep -q '^finding_id,' && ok "export findings: CSV when asked" \
    || bad "findings csv" "$(head -c 300 "$T/r")"

# ---- the review queue: undecided pairs in the review band, the most doubtful first ----
req reviewer GET "/v1/review/queue?limit=1000" >"$T/r"
tail -n +2 "$T/r" >"$T/queue.json"
[ "$(status "$T/r")" = 200 ] && jq -e '(.pairs | length) > 0
    and all(.pairs[]; .p >= 0.1 and .p < 0.5)
    and ([.pairs[] | (.p - 0.5) | fabs] as $d | $d == ($d | sort))' "$T/queue.json" >/dev/null \
    && ok "the review queue: $(jq '.pairs | length' "$T/queue.json") pairs in the review band, the most doubtful first" \
    || bad "review queue" "$(head -c 400 "$T/r")"
QA=$(jq -r '.pairs[0].a' "$T/queue.json") QB=$(jq -r '.pairs[0].b' "$T/queue.json")
req reviewer POST /v1/review/decisions -H 'Content-Type: application/json' \
    --data-binary "{\"a\": \"$QA\", \"b\": \"$QB\", \"same\": false}" >/dev/null
req reviewer GET "/v1/review/queue?limit=1000" >"$T/r"
[ "$(status "$T/r")" = 200 ] && tail -n +2 "$T/r" | jq -e --arg a "$QA" --arg b "$QB" \
    '[.pairs[] | select(.a == $a and .b == $b)] | length == 0' >/dev/null \
    && ok "a decided pair leaves the queue" || bad "decided pair still queued" "$QA $QB"
req reviewer GET "/v1/review/queue?limit=0" >"$T/r"
[ "$(status "$T/r")" = 400 ] && has "$T/r" '"field":"limit"' && ok "a queue of 0 pairs: 400 at limit" \
    || bad "queue limit" "$(cat "$T/r")"
req analyst GET /v1/review/queue >"$T/r"
[ "$(status "$T/r")" = 403 ] && ok "an analyst may not read the review queue: 403" || bad "analyst queue" "$(cat "$T/r")"
# a purpose whose view hides benefits' SSN: no probability is shown, nor the order it gives
{ gv_policy test "$(date -u -d '+700 days' +%F)" all all
  printf '  narrow:\n    allowed: true\n    agreement: N-1\n    expires: %s\n    fields: [enrollment_id, FIRST_NAME, LAST_NAME, DOB, ZIP]\n    link_with: all\n' \
      "$(date -u -d '+700 days' +%F)"; } >"$T/narrow.yaml"
{ gv_policy test "$(date -u -d '+700 days' +%F)" all all
  printf '  narrow:\n    allowed: true\n    agreement: N-1\n    expires: %s\n    fields: all\n    link_with: all\n' \
      "$(date -u -d '+700 days' +%F)"; } >"$T/wide.yaml"
for s in $(gv_sources "$T/c.yaml"); do
    pol=$T/wide.yaml
    [ "$s" = benefits ] && pol=$T/narrow.yaml
    DOVETAIL_TOKEN=$(cat "$S.steward") "$DT" policy set --source "$s" --store "$S" --purpose setup "$pol" \
        >/dev/null 2>&1 || bad "narrow policy set on $s"
done
PURPOSE=narrow req reviewer GET "/v1/review/queue?limit=1000" >"$T/r"
[ "$(status "$T/r")" = 200 ] && tail -n +2 "$T/r" | jq -e '(.pairs | length) > 0 and all(.pairs[]; .p == null)' >/dev/null \
    && ok "under a purpose that hides a compared column, the queue shows no probability" \
    || bad "queue under narrow" "$(head -c 400 "$T/r")"
for s in $(gv_sources "$T/c.yaml"); do
    DOVETAIL_TOKEN=$(cat "$S.steward") "$DT" policy set --source "$s" --store "$S" --purpose setup "$S.policy.yaml" \
        >/dev/null 2>&1 || bad "policy put back on $s"
done
as reviewer "$S" review queue --limit 3 >"$T/cq" 2>&1
[ "$(jq '.pairs | length' "$T/cq")" = 3 ] && ok "dovetail review queue --limit 3: three pairs" \
    || bad "cli queue" "$(cat "$T/cq")"

# ---- the store's linkage report --------------------------------------------------------
req analyst GET /v1/report >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '<h1>Linkage report</h1>' && has "$T/r" 'svg class="chart"' \
    && ! grep -q 'B[0-9A-F]\{9\}\|D[0-9A-F]\{9\}' "$T/r" \
    && ok "GET /v1/report: the store's linkage report, naming no record" \
    || bad "store report" "$(head -c 300 "$T/r")"
req none GET /v1/report >"$T/r"
[ "$(status "$T/r")" = 401 ] && ok "the report without a token: 401" || bad "report 401" "$(cat "$T/r")"

# ---- review decisions: the reviewer's "same" and "not the same" take effect at once ----
decide() { # decide ROLE A B true|false: the reply in $T/r
    req "$1" POST /v1/review/decisions -H 'Content-Type: application/json' \
        --data-binary "{\"a\": \"$2\", \"b\": \"$3\", \"same\": $4, \"note\": \"looked\"}" >"$T/r"
}
entities_equal() { tail -n +2 "$T/r" | jq -e '.a.entity == .b.entity' >/dev/null; }
set -- $(sqlite3 -separator ' ' "$S" "SELECT sa.name || ':' || ra.record_id, sb.name || ':' ||
    rb.record_id FROM link l JOIN record ra ON ra.id = l.a JOIN record rb ON rb.id = l.b
    JOIN source sa ON sa.id = ra.source JOIN source sb ON sb.id = rb.source
    JOIN membership ma ON ma.record = l.a JOIN membership mb ON mb.record = l.b
    WHERE l.p >= 0.9 AND ma.entity = mb.entity AND ra.source != rb.source ORDER BY l.a, l.b LIMIT 1")
RA=$1 RB=$2
decide reviewer "$RA" "$RB" false
[ "$(status "$T/r")" = 200 ] && ! entities_equal \
    && [ "$(sqlite3 "$S" "SELECT count(*) FROM entity_event WHERE cause = 'review: not the same person'")" -ge 1 ] \
    && ok "a reviewer's 'not the same' splits a linked pair at once, recorded as a split" \
    || bad "decide not the same" "$RA $RB $(cat "$T/r")"
decide reviewer "$RA" "$RB" true
[ "$(status "$T/r")" = 200 ] && entities_equal && ok "a later 'same' on the pair replaces it: joined again" \
    || bad "decide same again" "$(cat "$T/r")"
# two people with different SSNs: bench.yaml's exclusive ssn keeps them apart; a person overrides it
set -- $(awk -F, 'NR > 1 && $6 != "" { if (!a) { a = $1; s = $6 } else if ($6 != s) { print a, $1; exit } }' "$T/g/benefits.csv")
decide reviewer "benefits:$1" "benefits:$2" true
[ "$(status "$T/r")" = 200 ] && entities_equal \
    && ok "'same' joins two records whose SSNs differ (exclusive: ssn): a person looked, a rule guessed" \
    || bad "decide same over a conflict" "$(cat "$T/r")"
decide reviewer "benefits:$1" "benefits:$2" false
[ "$(status "$T/r")" = 200 ] && ! entities_equal && ok "and 'not the same' parts them again" \
    || bad "decide apart again" "$(cat "$T/r")"
# a finding rests on a link: "not the same" on its two records, and the next run supersedes it
req analyst GET "/v1/findings?state=open" >"$T/r"
tail -n +2 "$T/r" | jq -r '[.findings[] | select(.rule == "payment_after_death")][0]
    | .finding_id + " " + .records[0].source + ":" + .records[0].record_id + " "
    + .records[1].source + ":" + .records[1].record_id' >"$T/pad"
read -r PF PA PB <"$T/pad"
decide reviewer "$PA" "$PB" false
req analyst POST /v1/findings/run >"$T/r"
req analyst GET "/v1/findings/$PF" >"$T/r"
[ -n "$PF" ] && [ "$(status "$T/r")" = 200 ] && tail -n +2 "$T/r" | jq -e '.state == "superseded"' >/dev/null \
    && ok "a finding whose link a reviewer undid ('not the same') is superseded at the next run" \
    || bad "finding after not the same" "$PF $PA $PB $(head -c 400 "$T/r")"
decide analyst "benefits:$1" "benefits:$2" false
[ "$(status "$T/r")" = 403 ] && ok "an analyst may not decide: 403" || bad "analyst decides" "$(cat "$T/r")"
req reviewer POST /v1/review/decisions -H 'Content-Type: application/json' \
    --data-binary "{\"a\": \"benefits:$1\", \"b\": \"benefits:$2\", \"same\": \"yes\"}" >"$T/r"
[ "$(status "$T/r")" = 400 ] && has "$T/r" '"field":"/same"' && ok "a decision that is not true or false: 400 at /same" \
    || bad "decision /same" "$(cat "$T/r")"
decide reviewer "benefits:$1" "benefits:no-such-row" true
[ "$(status "$T/r")" = 404 ] && has "$T/r" 'benefits:no-such-row' && ok "a decision on a record not stored: 404 naming it" \
    || bad "decision 404" "$(cat "$T/r")"

req auditor GET /v1/audit/head >"$T/r"
tail -n 1 "$T/r" >"$T/head0.json"
req auditor GET /v1/audit/witness >"$T/r"
tail -n +2 "$T/r" >"$T/witness.jsonl"
[ "$(status "$T/r")" = 200 ] && head -n 1 "$T/witness.jsonl" | grep -q dovetail_witness && ok "the witness file" \
    || bad "witness" "$(head -c 300 "$T/r")"
req auditor POST /v1/audit/verify >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"ok":true' && ok "audit verify over HTTP" || bad "verify" "$(cat "$T/r")"
req auditor POST /v1/audit/verify -H 'Content-Type: application/jsonl' --data-binary @"$T/witness.jsonl" >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"ok":true' && ! has "$T/r" '"witness_heads":0' \
    && ok "audit verify with the witness file as the body" || bad "verify witness" "$(cat "$T/r")"
req auditor POST /v1/audit/consistency -H 'Content-Type: application/json' --data-binary @"$T/head0.json" >"$T/r"
[ "$(status "$T/r")" = 200 ] && ok "a consistency proof from an earlier head" || bad "consistency" "$(cat "$T/r")"
req auditor GET "/v1/disclosures?entity=$E" >"$T/r"
[ "$(status "$T/r")" = 200 ] && has "$T/r" '"action":"record.resolve"' && ok "disclosures of an entity" \
    || bad "disclosures" "$(head -c 300 "$T/r")"
req auditor GET /v1/disclosures >"$T/r"
[ "$(status "$T/r")" = 400 ] && has "$T/r" '"field":"record"' && ok "disclosures of no one: 400" || bad "disclosures 400" "$(cat "$T/r")"
req analyst GET "/v1/disclosures?entity=$E" >"$T/r"
[ "$(status "$T/r")" = 403 ] && ok "an analyst may not list disclosures: 403" || bad "disclosures 403" "$(cat "$T/r")"
[ -z "$(ls -A "$T"/tmp/dovetail-serve.* 2>/dev/null)" ] && ok "no reply file is left behind" \
    || bad "reply files left" "$(ls -A "$T"/tmp/dovetail-serve.* | head -3)"

# ---- SIGTERM --------------------------------------------------------------------------
kill -TERM "$PID"
wait "$PID"
rc=$?
PID=""
[ $rc -eq 0 ] && grep -q "stopped" "$T/serve.log" && ok "SIGTERM: stops, exit 0" || bad "SIGTERM" "rc=$rc $(cat "$T/serve.log")"
DOVETAIL_TOKEN=$(cat "$S.auditor") "$DT" audit verify --store "$S" --purpose test >/dev/null 2>"$T/err" \
    && ok "the audit log verifies after the server's requests" || bad "audit verify" "$(cat "$T/err")"

# ---- a stop, and a kill, in the middle of an HTTP ingest --------------------------------------
# body PREFIX: 16 copies of the benefits rows under new ids (two batches of up to 10,000)
body() {
    head -n 1 "$T/g/benefits.csv"
    for k in $(seq 1 16); do tail -n +2 "$T/g/benefits.csv" | sed "s/^/$1$k-/"; done
}
n_rows() { sqlite3 "$S" "SELECT count(*) FROM record WHERE record_id LIKE '$1%' AND withdrawn = 0"; }
n_ingests() { sqlite3 "$S" "SELECT count(*) FROM audit WHERE action = 'store.ingest'"; }
# post_body PREFIX: the ingest in the background (CURL), once its entry is logged
post_body() {
    body "$1" >"$T/$1.csv"
    _was=$(n_ingests)
    curl -s -o "$T/$1.out" -w '%{http_code}' -H "Authorization: Bearer $(cat "$S.steward")" \
        -H "Dovetail-Purpose: test" -H 'Content-Type: text/csv' --data-binary @"$T/$1.csv" \
        "$URL/v1/sources/benefits/records" >"$T/$1.code" &
    CURL=$!
    i=0
    while [ $i -lt 400 ] && [ "$(n_ingests)" = "$_was" ]; do sleep 0.05; i=$((i + 1)); done
}
total=$(($(body X | wc -l) - 1))
start http
post_body RSTT
sleep 0.3
kill -TERM "$PID"
wait "$PID"
rc=$?
PID=""
wait $CURL
[ $rc -eq 0 ] && [ "$(cat "$T/RSTT.code")" = 200 ] && grep -q "\"new\":$total" "$T/RSTT.out" \
    && [ "$(n_rows RSTT)" = "$total" ] \
    && ok "SIGTERM during an ingest: it finishes, is answered ($total rows), then exit 0" \
    || bad "SIGTERM mid-ingest" "rc=$rc $(cat "$T/RSTT.code") $(cat "$T/RSTT.out") $(n_rows RSTT)"

start http
post_body RSTK
i=0 # until its first batch is committed: the kill falls between two batches' commits
while [ $i -lt 600 ] && [ "$(n_rows RSTK)" = 0 ]; do sleep 0.05; i=$((i + 1)); done
kill -KILL "$PID"
wait "$PID" 2>/dev/null
PID=""
wait $CURL
partial=$(n_rows RSTK)
[ "$(cat "$T/RSTK.code")" != 200 ] && [ "$(sqlite3 "$S" 'PRAGMA integrity_check')" = ok ] \
    && [ "$partial" -lt "$total" ] && [ $((partial % 10000)) = 0 ] \
    && ok "killed during an ingest: not acknowledged, the store whole ($partial of $total rows, whole batches)" \
    || bad "kill mid-ingest" "$(cat "$T/RSTK.code") $partial/$total $(sqlite3 "$S" 'PRAGMA integrity_check' | head -3)"
start http
req steward POST /v1/sources/benefits/records -H 'Content-Type: text/csv' --data-binary @"$T/RSTK.csv" >"$T/r"
new=$(sed -n 's/.*"new":\([0-9]*\).*/\1/p' "$T/r") same=$(sed -n 's/.*"unchanged":\([0-9]*\).*/\1/p' "$T/r")
[ "$(status "$T/r")" = 200 ] && [ $((new + same)) = "$total" ] && [ "$same" = "$partial" ] \
    && [ "$(n_rows RSTK)" = "$total" ] \
    && ok "restarted, the same body again: $new new, $same already stored, all $total there" \
    || bad "resume after kill" "$(cat "$T/r") $(n_rows RSTK)/$total"
kill -TERM "$PID"
wait "$PID"
PID=""
DOVETAIL_TOKEN=$(cat "$S.auditor") "$DT" audit verify --store "$S" --purpose test >/dev/null 2>"$T/err" \
    && ok "the audit log verifies after the kill" || bad "verify after kill" "$(cat "$T/err")"

# ---- the rate limit ----------------------------------------------------------------------
start http --rate 5
i=0
t0=$(date +%s.%N)
while [ $i -lt 30 ]; do req analyst GET /v1/findings | head -n 1; i=$((i + 1)); done >"$T/codes"
t1=$(date +%s.%N)
n200=$(grep -c '^200$' "$T/codes") n429=$(grep -c '^429$' "$T/codes")
# a burst of 10, then 5 a second refilled while the 30 went: no more may pass
most=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", 10 + 5 * (b - a) + 1 }')
[ "$n200" -ge 10 ] && [ "$n200" -le "$most" ] && [ "$n429" -ge 1 ] && [ $((n200 + n429)) = 30 ] \
    && ok "--rate 5: a burst of 10, then 429 ($n200 answered, $n429 refused)" \
    || bad "rate limit" "$n200 200s, $n429 429s: $(sort "$T/codes" | uniq -c | tr '\n' ' ')"
req auditor GET /v1/audit/head >"$T/r"
[ "$(status "$T/r")" = 200 ] && ok "another token has its own bucket" || bad "per token" "$(cat "$T/r")"
sleep 1
req analyst GET /v1/findings >"$T/r"
[ "$(status "$T/r")" = 200 ] && ok "a second later, answered again" || bad "refill" "$(head -c 200 "$T/r")"
kill -TERM "$PID"
wait "$PID"
PID=""

# ---- slow clients and the connection limit ---------------------------------------------------
start http --timeout 2 --max-connections 2 --threads 2
PORT=${URL##*:}
/usr/bin/python3 "$HERE/slow_clients.py" "$PORT" slow >"$T/slow"
secs=$(sed -n 's/closed after \([0-9]*\)\..*/\1/p' "$T/slow")
[ -n "$secs" ] && [ "$secs" -ge 1 ] && [ "$secs" -le 5 ] \
    && ok "--timeout 2: headers that never end are cut off ($(cat "$T/slow"))" || bad "slow client" "$(cat "$T/slow")"
/usr/bin/python3 "$HERE/slow_clients.py" "$PORT" limit 8 >"$T/limit"
grep -q "extra: refused" "$T/limit" && grep -q "after: answered" "$T/limit" \
    && ok "--max-connections 2: with 8 held open, another is closed unanswered; served once they close" \
    || bad "connection limit" "$(cat "$T/limit")"
kill -TERM "$PID"
wait "$PID"
PID=""

# ---- HTTPS ------------------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/k.pem" -out "$T/c.pem" -days 2 \
    -subj /CN=127.0.0.1 >/dev/null 2>&1 || bad "openssl makes a certificate"
start https --tls-cert "$T/c.pem" --tls-key "$T/k.pem"
req none GET /healthz >"$T/r"
[ "$(status "$T/r")" = 200 ] && ok "HTTPS: /healthz over TLS" || bad "https" "$(cat "$T/r" "$T/serve.log")"
curl -s -o /dev/null -w '%{http_code}' "http://${URL#https://}/healthz" >"$T/plain" 2>/dev/null
[ "$(cat "$T/plain")" != 200 ] && ok "HTTPS: plain HTTP is not answered" || bad "plain over TLS port"
kill -TERM "$PID"
wait "$PID"
PID=""
"$DT" serve --store "$S" --tls-cert "$T/c.pem" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "both a certificate and its key" "$T/err" && ok "a certificate without its key is refused" \
    || bad "tls half" "rc=$rc $(cat "$T/err")"

# ---- docs/openapi.yaml has every route, and only them --------------------------------------
"$DT" serve --routes | awk '{ print $1, $2 }' | sort >"$T/routes.code"
awk '/^  \// { path = $1; sub(/:$/, "", path); gsub(/\{[a-z_]*\}/, "{}", path) }
     /^    (get|post|put|delete|patch):/ { m = $1; sub(/:$/, "", m); print toupper(m), path }' \
    "$ROOT/docs/openapi.yaml" | sort >"$T/routes.doc"
[ -s "$T/routes.code" ] && cmp -s "$T/routes.code" "$T/routes.doc" \
    && ok "docs/openapi.yaml describes every route ($(wc -l <"$T/routes.code")), and no other" \
    || bad "openapi.yaml and the routes differ" "$(diff "$T/routes.code" "$T/routes.doc" | head -5)"

# ---- docs/openapi.yaml: its examples, and every JSON reply above, match its schemas ----------
if /usr/bin/python3 "$HERE/openapi_check.py" "$ROOT/docs/openapi.yaml" "$T/replies" >"$T/oa" 2>&1; then
    ok "docs/openapi.yaml: its examples and the $(wc -l <"$T/replies/index.tsv") JSON replies of this test match its schemas ($(tail -n 1 "$T/oa"))"
else
    bad "openapi.yaml schemas" "$(head -n 8 "$T/oa")"
fi

echo "server: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
