#!/bin/sh
# bench/delta.sh — resolving (incremental) ingest on both store backends:
# the five registries of N people loaded in bulk into a SQLite store and a
# PostgreSQL one (tests/pg-server, a Unix socket), both holding batch
# link's model; then a delta of the voters (a twentieth of the rows: half
# with a new ZIP, half new records) ingested batch by batch (--no-bulk)
# into a fresh copy of each store, by each build given. Prints one JSON
# line per (build, backend): rows, seconds, rows/s; and whether every
# store ends with the same records (ids, versions), number of blocking
# keys, links, entities and entity events.
#
# usage: bench/delta.sh [--people N] [--seed S] [--batch ROWS] [--keep DIR] [DT...]
# DT: dovetail builds to time (default build/release/dovetail); with
# --keep DIR the stores are made once and reused by later runs. Build
# first: make bench.
set -eu

people=20000 seed=3 keep= batch=
while [ $# -gt 0 ]; do
    case $1 in
    --people) people=${2:?}; shift 2 ;;
    --seed) seed=${2:?}; shift 2 ;;
    --keep) keep=${2:?}; shift 2 ;;
    --batch) batch="--batch ${2:?}"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench/delta.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || set -- "$ROOT/build/release/dovetail"
DT=$1 # the base stores are made by the first build
GEN=$ROOT/build/release/bench-gen
for b in "$GEN" "$@"; do
    [ -x "$b" ] || { echo "bench/delta.sh: $b is missing: run 'make bench' first" >&2; exit 1; }
done
. "$ROOT/tests/e2e/govern_lib.sh"
. "$ROOT/tests/e2e/lib.sh"

W=${keep:-$(mktemp -d /tmp/dovetail-delta.XXXXXX)}
mkdir -p "$W"
chmod 0711 "$W" # the server (the postgres user, when run as root) reaches its directory in W
T=$W # gv_base's directory for the PostgreSQL store's tokens
PGD=$W/pg
log() { printf 'bench/delta.sh: %s\n' "$*" >&2; }
BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
as_server() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sh -c "$1"; fi; }
cleanup() { # with --keep the server stops, its data stays
    if [ -n "$keep" ]; then as_server "'$BIN/pg_ctl' -D '$PGD/data' -m fast -w stop >/dev/null" || true
    else "$ROOT/tests/pg-server" stop "$PGD" >/dev/null 2>&1 || true; rm -rf "$W"; fi
}
trap cleanup EXIT
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# the server's data directory survives --keep; its socket does not
if [ -d "$PGD/data" ]; then
    as_server "'$BIN/pg_ctl' -D '$PGD/data' status >/dev/null" ||
    as_server "'$BIN/pg_ctl' -D '$PGD/data' -l '$PGD/server.log' -w -o \"-c listen_addresses='' \
        -c unix_socket_directories='$PGD' -c max_connections=50\" start >/dev/null"
    SRV="postgresql:///postgres?host=$PGD&user=dovetail"
else
    SRV=$("$ROOT/tests/pg-server" start "$PGD")
fi
export DOVETAIL_KEY_FILE="$W/store.key"

if [ ! -f "$W/ready" ]; then
    log "generating $people people (seed $seed)"
    "$GEN" --seed "$seed" --people "$people" --out "$W/g" >/dev/null
    sed "s|DATA/|$W/g/|g" "$ROOT/bench/bench.yaml" >"$W/bench.yaml"
    "$DT" link -q --config "$W/bench.yaml" --out "$W/batch" 2>"$W/link.log"
    rows=0
    for s in benefits deaths earners health voters; do rows=$((rows + $(wc -l <"$W/g/$s.csv") - 1)); done
    n=$(($(wc -l <"$W/g/voters.csv") - 1))
    d=$((rows / 20))
    awk -F, -v d="$d" -v n="$n" 'NR == 1 { print; next }
        NR - 1 <= d / 2 { $5 = sprintf("%05d", ($5 + 1) % 100000); print; next }
        NR - 1 > n - (d - d / 2) { $1 = $1 "X"; print }' OFS=, "$W/g/voters.csv" >"$W/delta.csv"
    for be in sqlite pg; do
        if [ $be = pg ]; then BACKEND=pg S=$(new_store base); else BACKEND=sqlite S=$(new_store base); fi
        log "$be: base store (bulk load)"
        gv_setup "$S" "$W/bench.yaml" || { log "store set up failed"; exit 1; }
        as admin "$S" train -q --model "$W/batch/model.json" 2>/dev/null
        for s in benefits deaths earners health voters; do
            DOVETAIL_TOKEN=$(cat "$(gv_base "$S").steward") "$DT" ingest -q --bulk --store "$S" \
                --purpose test --source "$s" "$W/g/$s.csv" 2>>"$W/ingest.log"
        done
    done
    touch "$W/ready"
fi

# records (ids, versions), keys (counted), links, entities and events, as
# text to compare across stores
dump() {
    sql "$1" "SELECT id, source, record_id, version, withdrawn FROM record ORDER BY id"
    sql "$1" "SELECT record, version FROM record_history ORDER BY record, version"
    sql "$1" "SELECT (SELECT count(*) FROM block_key) + (SELECT count(*) FROM block_new)"
    sql "$1" "SELECT a, b, rule, CAST(round(weight * 1000000) AS BIGINT),
        CAST(round(p * 1000000) AS BIGINT) FROM link ORDER BY a, b"
    sql "$1" "SELECT record, entity FROM membership ORDER BY record"
    sql "$1" "SELECT seq, kind, entity, other, cause FROM entity_event ORDER BY seq"
}

delta_rows=$(($(wc -l <"$W/delta.csv") - 1))
rm -f "$W"/result.*
i=0
for dt in "$@"; do
    i=$((i + 1))
    for be in sqlite pg; do
        BACKEND=$be
        if [ $be = pg ]; then B="postgresql:///base?host=$PGD&user=dovetail"; else B=$W/base.db; fi
        rm -f "$W/run.db"*
        S=$(be_copy "$B" run)
        cp "$(gv_base "$B").steward" "$(gv_base "$S").steward"
        t=$(now)
        DOVETAIL_TOKEN=$(cat "$(gv_base "$S").steward") "$dt" ingest -q --no-bulk $batch --store "$S" \
            --purpose test --source voters "$W/delta.csv" 2>"$W/delta.$i.$be.log"
        sec=$(since "$t")
        dump "$S" >"$W/result.$i.$be"
        printf '{"build": "%s", "backend": "%s", "rows": %s, "seconds": %s, "rows_per_s": %.0f}\n' \
            "$dt" "$be" "$delta_rows" "$sec" "$(awk -v r="$delta_rows" -v s="$sec" 'BEGIN { print r / s }')"
    done
done
same=true
for f in "$W"/result.*; do cmp -s "$f" "$W/result.1.sqlite" || { same=false; log "$f differs"; }; done
printf '{"same_records_links_entities_events": %s}\n' "$same"
