#!/bin/sh
# bench/backends.sh — the store's figures on SQLite and on PostgreSQL, side
# by side in one run, on the same generated registries: bench/load.sh on
# each (the five registries loaded as one into a store with link's model,
# train, train --model, a daily delta of 1% of rows), then bench-resolve on
# each (500 benefits rows resolved in process: p50 and p99 of the governed
# call, its audit entry committed). PostgreSQL is a private server this
# script starts (tests/pg-server: a Unix socket, no password) and stops.
# Prints one JSON object: {"people": N, "sqlite": {...}, "pg": {...}}.
#
# usage: bench/backends.sh [--people N] [--keep DIR]
# Build first: make bench. Needs about 6 GiB of disk at 1M people.
set -eu
people=1000000 keep=
while [ $# -gt 0 ]; do
    case $1 in
    --people) people=${2:?}; shift 2 ;;
    --keep) keep=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/backends.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build/release
[ -x "$B/bench-resolve" ] || { echo "bench/backends.sh: run 'make bench' first" >&2; exit 1; }
W=${keep:-$(mktemp -d /tmp/dovetail-backends.XXXXXX)}
PGD=$(mktemp -d -u /tmp/dovetail-backends-pg.XXXXXX)
mkdir -p "$W/sqlite" "$W/pg"
trap '"$ROOT/tests/pg-server" stop "$PGD"; [ -n "$keep" ] || rm -rf "$W"' EXIT
SRV=$("$ROOT/tests/pg-server" start "$PGD")
psql -q "$SRV" -c "CREATE DATABASE bench" >/dev/null
URL=$(echo "$SRV" | sed 's|:///postgres?|:///bench?|')

# resolve_ms STORE TOKENBASE: bench-resolve over 500 benefits rows
resolve_ms() {
    DOVETAIL_KEY_FILE=$2.key DOVETAIL_TOKEN=$(cat "$2.analyst") "$B/bench-resolve" --store "$1" \
        --source benefits --csv "$W/sqlite/g/benefits.csv" --n 500 --purpose test 2>/dev/null
}

echo "bench/backends.sh: SQLite" >&2
"$ROOT/bench/load.sh" --people "$people" --keep "$W/sqlite" >"$W/sqlite.json"
[ -e "$W/pg/g" ] || ln -s "$W/sqlite/g" "$W/pg/g" # the same registries
echo "bench/backends.sh: PostgreSQL" >&2
"$ROOT/bench/load.sh" --people "$people" --keep "$W/pg" --store "$URL" >"$W/pg.json"
resolve_ms "$W/sqlite/s.db" "$W/sqlite/s.db" >"$W/sqlite.resolve.json"
resolve_ms "$URL" "$W/pg/bench" >"$W/pg.resolve.json"
printf '{"people": %s,\n "sqlite": {"load": %s,\n  "resolve": %s},\n "pg": {"load": %s,\n  "resolve": %s}}\n' \
    "$people" "$(cat "$W/sqlite.json")" "$(cat "$W/sqlite.resolve.json")" \
    "$(cat "$W/pg.json")" "$(cat "$W/pg.resolve.json")"
