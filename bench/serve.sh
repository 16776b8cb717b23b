#!/bin/sh
# bench/serve.sh — load on `dovetail serve` with wrk (loopback only,
# bounded in time): POST /v1/sources/benefits/resolve with one benefits row
# of the store's own data, under a purpose, every request audited. Prints
# one JSON object: requests/s, latency percentiles, non-2xx replies, socket
# errors, the audit entries the run added (one per request), and the WAL
# resets the server made and the longest they stopped its commits.
#
# With --mixed DATA_DIR, a steward ingests new benefits rows (batches of 100
# from the second half of DATA_DIR/benefits.csv, under new ids) over HTTP the whole time as well;
# afterwards the JSON also says how many rows were acknowledged (200), how
# many of those the store holds (every one, or the run failed), and whether
# `audit verify` passed.
#
# Usage: bench/serve.sh [--mixed DATA_DIR] STORE_DIR [SECONDS] [CONNECTIONS]
#   STORE_DIR holds a governed store as tests/e2e/govern_lib.sh's gv_setup
#   makes it (s.db, s.db.key, s.db.analyst; purpose "test") over bench-gen
#   data whose benefits.csv is DATA (the first row is the query), e.g. the
#   one `bench/serve.sh --make DATA_DIR STORE_DIR` builds.
#   STORE=postgresql://...: the store is kept in that database instead of
#   STORE_DIR/s.db (its key file, tokens and query stay in STORE_DIR); with
#   --make, it is made there (an empty database). The JSON says which.
#   THREADS (default 16): the server's workers; RATE (default 10,000,000):
#   its requests a second per token. QUERIES=N QDATA=DATA_DIR: each
#   request resolves the next of N benefits rows of DATA_DIR (all in the
#   store), not the one query row again and again.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DT=${DT:-$ROOT/build/release/dovetail} # DT: another build to compare

if [ "${1:-}" = --make ]; then # --make DATA_DIR STORE_DIR: a store to load
    DATA=$2 T=$3
    mkdir -p "$T"
    S=${STORE:-$T/s.db}
    . "$ROOT/tests/e2e/govern_lib.sh"
    export GV_FILES=$T/s.db # tokens and key file beside the data, whatever the store
    sed "s|DATA/|$DATA/|g" "$ROOT/bench/bench.yaml" >"$T/c.yaml"
    gv_setup "$S" "$T/c.yaml"
    for s in deaths benefits earners health voters; do
        as steward "$S" ingest -q --source $s "$DATA/$s.csv" >/dev/null 2>&1
    done
    DOVETAIL_TOKEN=$(cat "$T/s.db.admin") "$DT" train -q --store "$S" --purpose test 2>/dev/null
    head -n 2 "$DATA/benefits.csv" >"$T/query.csv"
    echo "bench/serve.sh: store ready in $T${STORE:+ (kept in PostgreSQL)}" >&2
    exit 0
fi

MIXED=""
if [ "${1:-}" = --mixed ]; then MIXED=$2; shift 2; fi
T=${1:?usage: bench/serve.sh [--mixed DATA_DIR] STORE_DIR [SECONDS] [CONNECTIONS]}
SECS=${2:-15}
CONNS=${3:-16}
export DOVETAIL_KEY_FILE=$T/s.db.key
S=${STORE:-$T/s.db}
case $S in
postgres://* | postgresql://*) backend=postgresql ;;
*) backend=sqlite ;;
esac
sq() { # one query's rows, on either backend
    if [ $backend = postgresql ]; then psql -tAq "$S" -c "$1"; else sqlite3 "$S" "$1"; fi
}
TOKEN=$(cat "$T/s.db.analyst")
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[i] = $i; next }
    { printf "{"; for (i = 1; i <= NF; i++) { v = (i == 1 ? "QUERY-1" : $i); gsub(/["\\]/, "", v)
      printf "%s\"%s\": \"%s\"", (i > 1 ? ", " : ""), h[i], v }; print "}" }' "$T/query.csv" >"$T/query.json"
# QUERIES=N (with --data DATA_DIR rows to draw from, or the store's own query.csv): each
# request sends the next of N different benefits rows, not one row again and again.
if [ -n "${QUERIES:-}" ] && [ -n "${QDATA:-}" ]; then
    sed -n "2,$((QUERIES + 1))p" "$QDATA/benefits.csv" | awk -F, -v hdr="$(head -n 1 "$QDATA/benefits.csv")" '
        BEGIN { n = split(hdr, h, ","); print "bodies = {" }
        { printf "[[{"; for (i = 1; i <= n; i++) { v = (i == 1 ? "Q-" NR : $i); gsub(/["\\]/, "", v)
          printf "%s\"%s\": \"%s\"", (i > 1 ? ", " : ""), h[i], v }; print "}]]," }
        END { print "}" }' >"$T/bodies.lua"
else
    printf 'bodies = {[[%s]]}\n' "$(cat "$T/query.json")" >"$T/bodies.lua"
fi
cat >"$T/post.lua" <<EOF
dofile("$T/bodies.lua")
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
wrk.method = "POST"
wrk.body = bodies[1]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.headers["Dovetail-Purpose"] = "test"
response = function(status, headers, body)
  if status ~= 200 then io.stderr:write("non-2xx ", status, " ", body, "\n") end
end
EOF
rm -f "$T/serve.log"
# the per-token rate limit (default 10,000/s) would cap what is measured: it
# still runs, set far above what the machine can do
"$DT" serve --store "$S" --listen 127.0.0.1:0 --threads "${THREADS:-16}" \
    --rate "${RATE:-10000000}" 2>"$T/serve.log" &
PID=$!
trap 'kill $PID 2>/dev/null' EXIT
i=0
while [ $i -lt 400 ] && ! grep -q "port [0-9]" "$T/serve.log" 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
PORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$T/serve.log")
a0=$(sq "SELECT count(*) FROM audit")

# --mixed: batches of 100 new rows until $T/stop appears; the ids of each
# batch answered 200 go to $T/acked, other statuses to $T/ingest_errors.
ingest_loop() {
    steward=$(cat "$T/s.db.steward")
    FAR=$(($(wc -l <"$MIXED/benefits.csv") / 2))
    i=0
    while [ ! -e "$T/stop" ]; do
        first=$((FAR + i * 100)) # far from the query's row: its entity stays as it was
        { head -n 1 "$MIXED/benefits.csv"
          sed -n "${first},$((first + 99))p" "$MIXED/benefits.csv" | sed "s/^/MIX$$-$i-/"; } >"$T/batch.csv"
        code=$(curl -s -o "$T/batch.out" -w '%{http_code}' -H "Authorization: Bearer $steward" \
            -H "Dovetail-Purpose: test" -H 'Content-Type: text/csv' --data-binary @"$T/batch.csv" \
            "http://127.0.0.1:$PORT/v1/sources/benefits/records")
        if [ "$code" = 200 ]; then tail -n +2 "$T/batch.csv" | cut -d, -f1 >>"$T/acked"
        else echo "$code $(cat "$T/batch.out")" >>"$T/ingest_errors"; fi
        i=$((i + 1))
    done
}
rm -f "$T/stop" "$T/acked" "$T/ingest_errors"
: >"$T/acked"
if [ -n "$MIXED" ]; then ingest_loop & LOOP=$!; fi
wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$T/post.lua" \
    "http://127.0.0.1:$PORT/v1/sources/benefits/resolve" >"$T/wrk.out" 2>&1
touch "$T/stop"
[ -n "$MIXED" ] && wait $LOOP
curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/metrics" >"$T/metrics" || :
resets=$(awk '/^dovetail_wal_resets_total/ { print $2 }' "$T/metrics")
pause=$(awk '/^dovetail_wal_reset_pause_seconds_max/ { printf "%.2f", $2 * 1000 }' "$T/metrics")
kill -TERM $PID
wait $PID || true
trap - EXIT
a1=$(sq "SELECT count(*) FROM audit")
acked=$(wc -l <"$T/acked")
stored=0 verified=null
if [ -n "$MIXED" ]; then # every acknowledged row is there, and the log verifies
    sq "SELECT record_id FROM record WHERE withdrawn = 0 AND record_id LIKE 'MIX$$-%'" \
        | sort >"$T/stored"
    sort "$T/acked" | comm -23 - "$T/stored" >"$T/missing"
    stored=$((acked - $(wc -l <"$T/missing")))
    DOVETAIL_TOKEN=$(cat "$T/s.db.auditor") "$DT" audit verify --store "$S" --purpose bench \
        >"$T/verify.out" 2>&1 && verified=true || verified=false
fi
awk -v backend=$backend -v threads="${THREADS:-16}" -v audited=$((a1 - a0)) -v resets="${resets:-0}" -v pause="${pause:-0}" -v secs="$SECS" -v conns="$CONNS" -v mixed="$MIXED" -v acked="$acked" \
    -v stored="$stored" -v verified="$verified" -v errs="$(cat "$T/ingest_errors" 2>/dev/null | wc -l)" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    / 50% / { p50 = ms($2) } / 90% / { p90 = ms($2) } / 99% / { p99 = ms($2) }
    /requests in/ { n = $1 } /Requests\/sec/ { rps = $2 }
    /Non-2xx/ { non2xx = $NF } /Socket errors/ { sockerr = $0 }
    END { printf "{\"route\": \"resolve\", \"backend\": \"%s\", \"threads\": %d, ", backend, threads
          printf "\"seconds\": %d, \"connections\": %d, \"requests\": %d, ", secs, conns, n
          printf "\"requests_per_s\": %.1f, \"p50_ms\": %.2f, \"p90_ms\": %.2f, \"p99_ms\": %.2f, ", rps, p50, p90, p99
          printf "\"non_2xx\": %d, \"socket_errors\": \"%s\", \"audit_entries\": %d, ", non2xx, sockerr, audited
          printf "\"wal_resets\": %d, \"wal_reset_pause_max_ms\": %s", resets, pause
          if (mixed != "") printf ", \"ingest_rows_acknowledged\": %d, \"ingest_rows_stored\": %d, \"ingest_errors\": %d, \"audit_verify\": %s", acked, stored, errs, verified
          printf "}\n" }' "$T/wrk.out"
