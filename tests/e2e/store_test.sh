#!/bin/sh
# End-to-end tests of the store commands (init, ingest, withdraw) on the
# FEBRL files, including a crash test: ingest killed with SIGKILL in the
# middle of its writing, run again, must end exactly where an uninterrupted
# run ends, the store intact.
# Then incremental equals batch: with one frozen model, records ingested in
# 10 slices resolve into the entities one batch link finds, on FEBRL and on
# generated registries (when bench-gen is given).
# Usage: tests/e2e/store_test.sh /abs/path/to/dovetail [/abs/path/to/bench-gen]
# DT_BACKEND=pg runs it on PostgreSQL stores (lib.sh, "backends").
# Ends with "store (BACKEND): N passed, N failed". Needs the sqlite3 shell,
# or psql.
set -u
DT=$1
GEN=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CFG=$ROOT/examples/febrl4.yaml
A=$ROOT/../shared/data/febrl/dataset4a.csv
T=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-store.XXXXXX")
. "$HERE/govern_lib.sh"
. "$HERE/lib.sh"
[ -n "${KEEP:-}" ] || trap 'be_stop; rm -rf "$T"' EXIT
be_start || exit 1
# Value of a line "key   value" in a summary.
field() { awk -v k="$1" '{ v = $2; if ($1 == k) print v }' "$2"; }
dump() { # every record's state, in a fixed order (contents are sealed: their lengths)
    sql "$1" "SELECT s.name, r.record_id, length(r.raw), length(r.norm), r.version, r.withdrawn
              FROM record r JOIN source s ON s.id = r.source ORDER BY 1, 2"
    sql "$1" "SELECT count(*) FROM record_history"
}
# intact STORE: the database's own check of the store's pages and indexes.
# SQLite: PRAGMA integrity_check. PostgreSQL: amcheck, every B-tree index
# checked against its table (heapallindexed) and every table's heap pages
# (verify_heapam): what integrity_check does for SQLite, and more than the
# store's own check (st_verify, run by every export) does there. The
# extension is created in the store's database; nothing of the store reads it.
INTACT=$(be_is_pg && echo "amcheck" || echo "integrity_check")
intact() {
    if be_is_pg; then
        sql "$1" "CREATE EXTENSION IF NOT EXISTS amcheck" >/dev/null &&
            [ "$(sql "$1" "SELECT count(bt_index_check(c.oid, true)) > 0 FROM pg_index i
                   JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
                   WHERE am.amname = 'btree' AND c.relnamespace = current_schema()::regnamespace")" = t ] &&
            [ "$(sql "$1" "SELECT count(*) FROM pg_class c, verify_heapam(c.oid)
                   WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace")" = 0 ]
    else
        [ "$(sqlite3 "$1" 'PRAGMA integrity_check')" = ok ]
    fi
}
# The record keys' bytes as text (sqlite3 prints a blob's bytes as they are)
SLOTS=$(be_is_pg && echo "encode(slots, 'hex')" || echo "hex(slots)")

# ---- init ------------------------------------------------------------------
S=$(new_store s) B=$(gv_base "$S")
gv_setup "$S" "$CFG" && ok "init creates a store (and principals, policies)" \
    || bad "init creates a store"
grep -Eq '^dt_[0-9a-f]{64}$' "$B.admin" && ok "init prints the admin's token once" \
    || bad "init prints the admin's token" "$(cat "$B.admin")"
sql "$S" "SELECT count(*) FROM principal WHERE token_hash = '$(cat "$B.admin")'" \
    | grep -qx 0 && ok "the token itself is not stored" || bad "the token itself is not stored"
"$DT" init --store "$S" --config "$CFG" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "already there" "$T/err" && ok "init refuses an existing store" \
    || bad "init refuses an existing store" "rc=$rc $(cat "$T/err")"
# no store there: no file, or (PostgreSQL) a database without one
N=$(new_store none)
"$DT" ingest --store "$N" --purpose test --source a "$A" 2>"$T/err"; rc=$?
if be_is_pg; then [ "$(sql "$N" "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")" = 0 ]
else [ ! -e "$N" ]; fi && [ $rc -eq 1 ] && grep -q "dovetail init" "$T/err" \
    && ok "a missing store is an error, not created" || bad "a missing store" "rc=$rc $(cat "$T/err")"
# something else where the store should be: a database whose meta table is
# another program's; a CSV
X=$(new_store other)
sql "$X" "CREATE TABLE meta(k INTEGER); INSERT INTO meta VALUES (1)"
"$DT" ingest --store "$X" --purpose test --source a "$A" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "other.*not a dovetail store" "$T/err" \
    && ok "another program's database is not a store, and the error says so" \
    || bad "another program's database is not a store" "rc=$rc $(cat "$T/err")"
if be_is_pg; then
    echo "skip  a CSV is not a store (pg: a --store URL names a database, never a file)"
else
    "$DT" ingest --store "$A" --purpose test --source a "$A" 2>"$T/err"; rc=$?
    [ $rc -eq 1 ] && grep -q "dataset4a.csv.*not a dovetail store" "$T/err" && ok "a CSV is not a store" \
        || bad "a CSV is not a store" "rc=$rc $(cat "$T/err")"
fi
"$DT" ingest --store "$S" --purpose test "$A" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--source is required" "$T/err" && ok "ingest without --source exits 2" \
    || bad "ingest without --source exits 2" "rc=$rc"

# ---- ingest: new, idempotent, changed, snapshot ------------------------------
as steward "$S" ingest --source a "$A" 2>"$T/in1"
[ "$(field new "$T/in1")" = 5000 ] && ok "first ingest: 5000 new" || bad "first ingest" "$(cat "$T/in1")"
as steward "$S" ingest --source a "$A" 2>"$T/in2"
[ "$(field unchanged "$T/in2")" = 5000 ] && [ "$(field new "$T/in2")" = 0 ] \
    && ok "same file again: 5000 unchanged, nothing new" || bad "idempotent ingest" "$(cat "$T/in2")"
as steward "$S" ingest --source nope "$A" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "no source 'nope'.*it has: a, b" "$T/err" && ok "unknown source lists the known ones" \
    || bad "unknown source" "$(cat "$T/err")"

# Rows 2-101 with a changed given name; rows 102-5001 as they were.
awk -F, 'NR == 1 || NR > 101 { print; next } { $2 = " changed"; print }' OFS=, "$A" >"$T/a2.csv"
as steward "$S" ingest --source a "$T/a2.csv" 2>"$T/in3"
[ "$(field changed "$T/in3")" = 100 ] && [ "$(field unchanged "$T/in3")" = 4900 ] \
    && ok "100 changed rows stored as new versions" || bad "changed rows" "$(cat "$T/in3")"
[ "$(sql "$S" 'SELECT count(*) FROM record_history')" = 100 ] \
    && ok "earlier versions kept" || bad "earlier versions kept"

head -n 1001 "$T/a2.csv" >"$T/snap.csv"
as steward "$S" ingest --source a --snapshot "$T/snap.csv" 2>"$T/in4"
[ "$(field withdrawn "$T/in4")" = 4000 ] && ok "snapshot withdraws the 4000 rows it lacks" \
    || bad "snapshot" "$(cat "$T/in4")"
as steward "$S" ingest --source a "$A" 2>"$T/in5"
[ "$(field restored "$T/in5")" = 4000 ] && [ "$(field changed "$T/in5")" = 100 ] \
    && ok "sending them again restores them" || bad "restore" "$(cat "$T/in5")"

# ---- withdraw ------------------------------------------------------------------
{ echo "rec_id"; sed -n '2,11p' "$A" | cut -d, -f1; echo "rec-never-seen"; } >"$T/ids.csv"
as steward "$S" withdraw --source a "$T/ids.csv" 2>"$T/wd"
grep -q "withdrew 10 records of a; 1 ids" "$T/wd" && ok "withdraw by id file" || bad "withdraw" "$(cat "$T/wd")"
[ "$(sql "$S" 'SELECT count(*) FROM record WHERE withdrawn = 0')" = 4990 ] \
    && ok "4990 records remain active" || bad "active count after withdraw"
printf 'rec_id,x\nrec-1070-org,1\n"broken\n' >"$T/bad-ids.csv"
as steward "$S" withdraw --source a "$T/bad-ids.csv" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "bad-ids.csv:.*line 3" "$T/err" \
    && [ "$(sql "$S" 'SELECT count(*) FROM record WHERE withdrawn = 0')" = 4990 ] \
    && ok "a broken ids file withdraws nothing and names its line" || bad "broken ids file" "rc=$rc $(cat "$T/err")"

# ---- crash safety: SIGKILL in the middle of the writing, then run again ----------
# kill_at STORE QUERY N COMMAND...: runs COMMAND (a program: its pid is the
# one killed) in the background and kills it (SIGKILL) as soon as QUERY,
# polled on STORE, reads N or more: the kill
# lands inside the writing, a few commits on, whatever the backend's speed.
# Counts in kills the runs that died of it (not those that ended first) and
# appends what QUERY reads after each to left.
kill_at() {
    _s=$1 _q=$2 _n=$3; shift 3
    "$@" 2>/dev/null &
    _pid=$!
    while kill -0 "$_pid" 2>/dev/null; do
        _v=$(sql "$_s" "$_q" 2>/dev/null)
        [ "${_v:-0}" -ge "$_n" ] && { kill -9 "$_pid" 2>/dev/null; break; }
    done
    wait "$_pid" 2>/dev/null
    [ $? -eq 137 ] && kills=$((kills + 1))
    left="$left $(sql "$_s" "$_q")"
}
# mid_way TOTAL N...: true when some N is strictly between 0 and TOTAL
mid_way() { _n=$1; shift; for _k; do [ "$_k" -gt 0 ] && [ "$_k" -lt "$_n" ] && return 0; done; return 1; }
# Every 25th row changed: each batch of 50 writes.
awk -F, 'NR > 1 && NR % 25 == 0 { $2 = " changed"; print; next } { print }' OFS=, "$A" >"$T/a3.csv"
REF=$(new_store ref)
gv_setup "$REF" "$CFG"
as steward "$REF" ingest --source a --batch 50 "$A" 2>/dev/null
as steward "$REF" ingest --source a --batch 50 "$T/a3.csv" 2>/dev/null
K=$(new_store k)
gv_setup "$K" "$CFG"
as steward "$K" ingest --source a --batch 50 "$A" 2>/dev/null
kills=0 left=''
for n in 20 60 100 140 180; do
    kill_at "$K" "SELECT count(*) FROM record WHERE version = 2" $n \
        env DOVETAIL_TOKEN="$(cat "$(gv_base "$K").steward")" "$DT" ingest --store "$K" \
        --purpose test --source a --batch 50 "$T/a3.csv"
done
as steward "$K" ingest --source a --batch 50 "$T/a3.csv" 2>"$T/final"
intact "$K" && ok "store intact after $kills kills ($INTACT)" || bad "integrity after kills ($INTACT)"
# shellcheck disable=SC2086
[ $kills -ge 3 ] && mid_way 200 $left \
    && ok "the kills landed in the writing (changes stored after each:$left of 200)" \
    || bad "the kills landed in the writing" "$kills kills; changes stored after each:$left of 200"
dump "$REF" >"$T/ref.dump"
dump "$K" >"$T/k.dump"
cmp -s "$T/ref.dump" "$T/k.dump" && ok "killed and resumed ingest equals an uninterrupted one" \
    || bad "killed and resumed ingest equals an uninterrupted one" "$(diff "$T/ref.dump" "$T/k.dump" | head -n 4)"

# ---- incremental equals batch ---------------------------------------------
# slices CSV N DIR: DIR/1.csv .. DIR/N.csv, each with the header
slices() {
    mkdir -p "$3"
    tail -n +2 "$1" | awk -v n="$2" -v d="$3" -v h="$(head -n 1 "$1")" \
        '{ f = d "/" (NR % n) + 1 ".csv"; if (!(f in seen)) { print h > f; seen[f] = 1 } print > f }'
}
incremental_equals_batch() { # name config source... (each source's CSV path after its name)
    name=$1 cfg=$2; shift 2
    d="$T/inc-$name"
    mkdir -p "$d"
    "$DT" link -q --config "$cfg" --out "$d/batch" 2>"$d/link.log" || { bad "$name: batch link" "$(tail -n 3 "$d/link.log")"; return; }
    inc_store=$(new_store "inc_$name")
    gv_setup "$inc_store" "$cfg"
    as admin "$inc_store" train --model "$d/batch/model.json" 2>/dev/null
    while [ $# -gt 0 ]; do slices "$2" 5 "$d/$1"; shift 2; done
    for i in 1 2 3 4 5; do
        for src in "$d"/*/; do
            s=$(basename "$src")
            [ "$s" = batch ] && continue
            [ -f "$src/$i.csv" ] && as steward "$inc_store" ingest -q --source "$s" "$src/$i.csv" 2>>"$d/ingest.log"
        done
    done
    as analyst "$inc_store" export --out "$d/inc.csv" 2>/dev/null
    partition "$d/batch/entities.csv" >"$d/batch.part"
    partition "$d/inc.csv" >"$d/inc.part"
    n=$(wc -l <"$d/batch.part")
    if [ "$n" -gt 0 ] && cmp -s "$d/batch.part" "$d/inc.part"; then
        ok "$name: ingest in slices gives batch's $n entities"
    else bad "$name: ingest in slices gives batch's entities" "$(diff "$d/batch.part" "$d/inc.part" | head -n 4)"; fi
}
incremental_equals_batch febrl4 "$CFG" a "$A" b "$ROOT/../shared/data/febrl/dataset4b.csv"
INC=$inc_store

# train refits from the stored records through the batch stages: the same
# parameters as link on the files, and then batch's entities.
"$DT" link --config "$CFG" --out "$T/fit-batch" 2>&1 | grep '^model:' >"$T/fit-batch.params"
FIT=$(new_store fit)
gv_setup "$FIT" "$CFG"
as steward "$FIT" ingest -q --source a "$A" 2>/dev/null
as steward "$FIT" ingest -q --source b "$ROOT/../shared/data/febrl/dataset4b.csv" 2>/dev/null
as admin "$FIT" train 2>&1 | grep '^model:' >"$T/fit-store.params"
[ -s "$T/fit-batch.params" ] && cmp -s "$T/fit-batch.params" "$T/fit-store.params" \
    && ok "train on the store fits link's parameters ($(wc -l <"$T/fit-store.params") lines equal)" \
    || bad "train refit equals link" "$(diff "$T/fit-batch.params" "$T/fit-store.params" | head -n 4)"
as analyst "$FIT" export --out "$T/fit.csv" 2>/dev/null
partition "$T/fit.csv" >"$T/fit.part"
cmp -s "$T/fit.part" "$T/inc-febrl4/batch.part" && ok "train resolves the stored records into batch's entities" \
    || bad "train then export" "$(diff "$T/fit.part" "$T/inc-febrl4/batch.part" | head -n 4)"

# Withdrawing records splits their entities as batch would without them.
WD=$(new_store wd)
gv_setup "$WD" "$CFG"
as admin "$WD" train --model "$T/inc-febrl4/batch/model.json" 2>/dev/null
as steward "$WD" ingest -q --source a "$A" 2>/dev/null
as steward "$WD" ingest -q --source b "$ROOT/../shared/data/febrl/dataset4b.csv" 2>/dev/null
{ echo rec_id; tail -n +2 "$A" | head -n 300 | cut -d, -f1; } >"$T/wd-ids.csv"
as steward "$WD" withdraw --source a "$T/wd-ids.csv" 2>/dev/null
as analyst "$WD" export --out "$T/wd.csv" 2>/dev/null
mkdir -p "$T/wd-batch"
{ head -n 1 "$A"; tail -n +302 "$A"; } >"$T/wd-batch/dataset4a.csv"
cp "$ROOT/../shared/data/febrl/dataset4b.csv" "$T/wd-batch/"
sed -e "s|\.\./\.\./shared/data/febrl/|$T/wd-batch/|" "$CFG" >"$T/wd-batch/c.yaml"
"$DT" link -q --config "$T/wd-batch/c.yaml" --out "$T/wd-batch/out" --model "$T/inc-febrl4/batch/model.json" 2>/dev/null
partition "$T/wd.csv" >"$T/wd.part"
partition "$T/wd-batch/out/entities.csv" >"$T/wd-batch.part"
cmp -s "$T/wd.part" "$T/wd-batch.part" && ok "withdrawing 300 records leaves batch's entities without them" \
    || bad "withdraw then export equals batch without them" "$(diff "$T/wd.part" "$T/wd-batch.part" | head -n 4)"

# resolve: a read that finds the entity, stores nothing, and names bad fields.
S=$INC
before=$(sql "$S" "SELECT (SELECT count(*) FROM record) || '/' || (SELECT count(*) FROM link) || '/' || (SELECT count(*) FROM membership)")
rec='{"rec_id": "q-1", "given_name": "michaela", "surname": "neumann", "street_number": "8", "address_1": "stanley street", "address_2": "miami", "suburb": "winston hills", "postcode": "4223", "state": "nsw", "date_of_birth": "19151111", "soc_sec_id": "5304218"}'
printf '%s' "$rec" | as analyst "$S" resolve --source b >"$T/res.json" 2>"$T/err"
want=$(awk -F, '$2 == "rec-1070-org" { print $3 }' "$T/inc-febrl4/inc.csv")
grep -q "\"entity\": \"$want\"" "$T/res.json" && grep -q '"record_id": "rec-1070-org"' "$T/res.json" \
    && ok "resolve finds the record's entity and candidate" || bad "resolve finds the entity" "$(head -c 300 "$T/res.json") $(cat "$T/err")"
after=$(sql "$S" "SELECT (SELECT count(*) FROM record) || '/' || (SELECT count(*) FROM link) || '/' || (SELECT count(*) FROM membership)")
[ "$before" = "$after" ] && ok "resolve stores nothing" || bad "resolve stores nothing" "$before -> $after"
echo '{"rec_id": "q", "given_name": ["x"]}' | as analyst "$S" resolve --source b >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "field 'given_name'" "$T/err" && ok "resolve names a bad field" || bad "resolve bad field" "rc=$rc $(cat "$T/err")"
echo '{"rec_id": "q"' | as analyst "$S" resolve --source b >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "record:2:.*expected" "$T/err" && ok "resolve reports broken JSON with its position" || bad "resolve broken JSON" "$(cat "$T/err")"
echo '{"given_name": "michaela"}' | as analyst "$S" resolve --source b >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "no field 'rec_id'" "$T/err" && ok "resolve requires the id field, by name" \
    || bad "resolve id field" "$(cat "$T/err")"
echo '{"rec_id": "q", "surname": "neumann", "date_of_birth": "19151111"}' | as analyst "$S" resolve --source b >"$T/res2.json" 2>"$T/err"
grep -q '"record_id": "rec-1070-org"' "$T/res2.json" && ok "resolve reads left-out columns as null" \
    || bad "resolve partial record" "$(cat "$T/err") $(head -c 200 "$T/res2.json")"
as analyst "$S" entity "$want" >"$T/ent.txt" 2>&1
grep -q '^a:rec-1070-org	{"rec_id":"rec-1070-org"' "$T/ent.txt" && grep -q '^b:rec-1070-dup-0	' "$T/ent.txt" \
    && ok "entity lists its records as sent" || bad "entity lists records" "$(cat "$T/ent.txt")"
as analyst "$S" entity Enope >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "no entity 'Enope'" "$T/err" && ok "an unknown entity is an error" || bad "unknown entity"

# Killed while resolving: records, links and entities commit together (after
# each kill every record has its entity), so a resumed ingest ends with
# batch's entities all the same.
K=$(new_store kr)
gv_setup "$K" "$CFG"
as admin "$K" train --model "$T/inc-febrl4/batch/model.json" 2>/dev/null
as steward "$K" ingest -q --source a --batch 200 "$A" 2>/dev/null
kills=0 left='' whole=1
for n in 800 1600 2400 3200 4000; do
    kill_at "$K" "SELECT count(*) FROM record r JOIN source s ON s.id = r.source WHERE s.name = 'b'" $n \
        env DOVETAIL_TOKEN="$(cat "$(gv_base "$K").steward")" "$DT" ingest -q --store "$K" \
        --purpose test --source b --batch 200 "$ROOT/../shared/data/febrl/dataset4b.csv"
    [ "$(sql "$K" "SELECT count(*) FROM record")" = "$(sql "$K" "SELECT count(*) FROM membership")" ] || whole=0
done
as steward "$K" ingest -q --source b --batch 200 "$ROOT/../shared/data/febrl/dataset4b.csv" 2>/dev/null
as analyst "$K" export --out "$T/kr.csv" 2>/dev/null
partition "$T/kr.csv" >"$T/kr.part"
intact "$K" && [ $whole = 1 ] && cmp -s "$T/kr.part" "$T/inc-febrl4/batch.part" \
    && ok "resolving ingest killed $kills times and resumed: batch's entities ($INTACT)" \
    || bad "killed resolving ingest" "whole=$whole $(diff "$T/kr.part" "$T/inc-febrl4/batch.part" | head -n 4)"
# shellcheck disable=SC2086
[ $kills -ge 3 ] && mid_way 5000 $left \
    && ok "the kills landed in the resolving (b's records after each:$left of 5000)" \
    || bad "the kills landed in the resolving" "$kills kills; b's records after each:$left of 5000"

# Ids are stable: a record that joins no one renumbers nothing.
as analyst "$INC" export --out "$T/ids1.csv" 2>/dev/null
{ head -n 1 "$A"; echo "rec-99999-org, zyxwv, qqqqq, 1, nowhere street, , nowhere, 9999, nsw, 18000101, 9999999"; } >"$T/one.csv"
as steward "$INC" ingest -q --source a "$T/one.csv" 2>/dev/null
as analyst "$INC" export --out "$T/ids2.csv" 2>/dev/null
grep -v rec-99999 "$T/ids2.csv" | cmp -s - "$T/ids1.csv" && [ "$(wc -l <"$T/ids2.csv")" -eq 10002 ] \
    && ok "a new unrelated record leaves every entity id as it was" || bad "entity ids stable"

if [ -n "$GEN" ]; then
    g="$T/gen"
    # 10,000 people: at 3,000 a clustering that weighed a context's
    # cannot-link with another table's term frequencies still agreed
    "$GEN" --seed 3 --people 10000 --out "$g" >/dev/null 2>&1
    sed "s|DATA/|$g/|g" "$ROOT/bench/bench.yaml" >"$g/bench.yaml"
    incremental_equals_batch registries "$g/bench.yaml" deaths "$g/deaths.csv" \
        benefits "$g/benefits.csv" earners "$g/earners.csv" health "$g/health.csv" \
        voters "$g/voters.csv"
    n=$(sql "$inc_store" "SELECT count(*) FROM entity_event WHERE kind IN ('merge', 'split') AND cause LIKE 'ingest of %'")
    [ "$n" -gt 0 ] && ok "$n merges and splits recorded with their cause" || bad "merges and splits recorded"

    # Whole files in bulk and batch by batch: the same store, entity ids,
    # links and events included.
    for mode in bulk no-bulk; do
        M=$(new_store "$(echo "$mode" | tr - _)")
        [ $mode = bulk ] && BULK=$M
        gv_setup "$M" "$g/bench.yaml"
        as admin "$M" train --model "$T/inc-registries/batch/model.json" 2>/dev/null
        for s in deaths benefits earners health voters; do
            as steward "$M" ingest --$mode --source "$s" "$g/$s.csv" 2>>"$g/$mode.log"
        done
        as analyst "$M" export --out "$g/$mode.csv" 2>/dev/null
        { sql "$M" "SELECT a, b, rule, weight, p FROM link ORDER BY a, b"
          sql "$M" "SELECT kind, entity, other, cause FROM entity_event ORDER BY seq"
          sql "$M" "SELECT $SLOTS FROM record_keys ORDER BY record"; } | md5sum >"$g/$mode.sum"
    done
    grep -q "loading .*voters.csv in bulk" "$g/bulk.log" && ! grep -q "in bulk" "$g/no-bulk.log" \
        && ok "--bulk loads in bulk, --no-bulk batch by batch" || bad "bulk chosen" "$(head -n 3 "$g/bulk.log")"
    partition "$g/bulk.csv" >"$g/bulk.part"
    cmp -s "$g/bulk.part" "$T/inc-registries/batch.part" && cmp -s "$g/bulk.csv" "$g/no-bulk.csv" \
        && ok "bulk ingest: batch's $(wc -l <"$g/bulk.part") entities, with the ids batch by batch gives" \
        || bad "bulk ingest equals batch by batch" "$(diff "$g/bulk.csv" "$g/no-bulk.csv" | head -n 4)"
    cmp -s "$g/bulk.sum" "$g/no-bulk.sum" && ok "bulk ingest: the same links, events and keys" \
        || bad "bulk ingest links, events and keys"

    # Five files as one load (ingest NAME=CSV...): one transaction, resolved
    # once, batch's entities; one entry names every source, and a steward
    # of some of them only may load none.
    J=$(new_store together)
    gv_setup "$J" "$g/bench.yaml"
    as admin "$J" train --model "$T/inc-registries/batch/model.json" 2>/dev/null
    DOVETAIL_TOKEN=$(cat "$(gv_base "$J").admin") "$DT" principal add d --role steward --source deaths \
        --store "$J" --purpose setup >"$(gv_base "$J").d" 2>/dev/null
    as d "$J" ingest deaths="$g/deaths.csv" benefits="$g/benefits.csv" 2>"$g/together.err"; rc=$?
    [ $rc -eq 1 ] && grep -q "may not store.ingest on source benefits" "$g/together.err" &&
        [ "$(sql "$J" "SELECT count(*) FROM record")" = 0 ] \
        && ok "several files: a steward of one of their sources loads none" \
        || bad "several files, a source not stewarded" "rc=$rc $(cat "$g/together.err")"
    all=""
    for s in deaths benefits earners health voters; do all="$all $s=$g/$s.csv"; done
    # shellcheck disable=SC2086 # NAME=CSV words
    as steward "$J" ingest --bulk $all 2>"$g/together.log"; rc=$?
    as analyst "$J" export --out "$g/together.csv" 2>/dev/null
    partition "$g/together.csv" >"$g/together.part"
    [ $rc -eq 0 ] && grep -q "loading 5 files in bulk, in one transaction" "$g/together.log" &&
        [ "$(grep -c '^ingest .* into ' "$g/together.log")" = 5 ] && cmp -s "$g/together.part" "$g/bulk.part" \
        && ok "five files as one load: one transaction, batch's entities" \
        || bad "five files as one load" "rc=$rc $(diff "$g/together.part" "$g/bulk.part" | head -n 4) $(tail -n 3 "$g/together.log")"
    [ "$(sql "$J" "SELECT s.subject FROM audit a JOIN audit_subject s ON s.seq = a.seq
                   WHERE a.action = 'store.ingest' AND a.outcome = 'allowed' ORDER BY s.subject" | paste -sd' ')" \
      = "source:benefits source:deaths source:earners source:health source:voters" ] \
        && ok "one audit entry names the five sources" \
        || bad "several files' entry" "$(sql "$J" "SELECT a.seq, s.subject FROM audit a JOIN audit_subject s ON s.seq = a.seq WHERE a.action = 'store.ingest'")"

    # train with the model the store has: every record scored again, in bulk,
    # and nothing changes (no entity renamed, no event)
    events=$(sql "$BULK" "SELECT count(*) FROM entity_event")
    # the blocking keys, staged or not (PostgreSQL's block_new stays empty:
    # pg_index.c stages nothing), and each record's keys
    index() { { sql "$1" "SELECT slot FROM block_key UNION ALL SELECT slot FROM block_new ORDER BY 1"
        sql "$1" "SELECT record, $SLOTS FROM record_keys ORDER BY record"; } | md5sum; }
    index "$BULK" >"$g/index.before"
    as admin "$BULK" train --model "$T/inc-registries/batch/model.json" 2>/dev/null
    as analyst "$BULK" export --out "$g/retrain.csv" 2>/dev/null
    index "$BULK" | cmp -s - "$g/index.before" && cmp -s "$g/retrain.csv" "$g/bulk.csv" \
        && [ "$(sql "$BULK" "SELECT count(*) FROM entity_event")" = "$events" ] \
        && ok "train with the same model changes no entity, no blocking key, and records no event" \
        || bad "train with the same model" "$(diff "$g/retrain.csv" "$g/bulk.csv" | head -n 4)"

    # A bulk ingest is one transaction: killed at any moment, the store is
    # as before it; run again, it ends as uninterrupted. Nothing of it shows
    # before its commit, so each kill comes a fraction of the time it takes
    # uninterrupted (on a copy, on this backend and machine) after it says it
    # loads in bulk, just before its transaction begins: a run killed then
    # that left the store as before was killed inside its transaction.
    now() { date +%s.%N; }
    delays() { # SINCE FRACTION...: each fraction of the seconds since SINCE
        _t=$(awk -v a="$1" -v b="$(now)" 'BEGIN { print b - a }'); shift
        for _f; do awk -v t="$_t" -v f="$_f" 'BEGIN { printf "%.3f\n", t * f }'; done
    }
    K=$(new_store kb)
    gv_setup "$K" "$g/bench.yaml"
    as admin "$K" train --model "$T/inc-registries/batch/model.json" 2>/dev/null
    for s in deaths benefits earners; do as steward "$K" ingest -q --bulk --source "$s" "$g/$s.csv" 2>/dev/null; done
    counts() { sql "$1" "SELECT (SELECT count(*) FROM record) || '/' || (SELECT count(*) FROM link) || '/' || (SELECT count(*) FROM membership) || '/' || (SELECT count(*) FROM entity_event)"; }
    KREF=$(be_copy "$K" kref)
    cp "$(gv_base "$K").steward" "$(gv_base "$KREF").steward"
    t0=$(now)
    as steward "$KREF" ingest -q --bulk --source health "$g/health.csv" 2>/dev/null
    before=$(counts "$K") after=$(counts "$KREF")
    kills=0 whole=1 left='' inside=0
    for delay in $(delays "$t0" 0.1 0.3 0.5 0.7); do
        DOVETAIL_TOKEN=$(cat "$(gv_base "$K").steward") "$DT" ingest --bulk --store "$K" --purpose test \
            --source health "$g/health.csv" 2>"$g/kb.log" &
        pid=$!
        while kill -0 "$pid" 2>/dev/null && ! grep -q "in bulk" "$g/kb.log"; do sleep 0.01; done
        sleep "$delay"
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        rc=$?
        [ $rc -eq 137 ] && kills=$((kills + 1))
        # as before the ingest, or (killed after its commit, or done) as after
        state=$(counts "$K")
        if [ "$state" = "$before" ]; then
            left="$left before"
            [ $rc -eq 137 ] && grep -q "in bulk" "$g/kb.log" && inside=$((inside + 1))
        elif [ "$state" = "$after" ]; then left="$left after"
        else left="$left neither" whole=0; fi
    done
    for s in health voters; do as steward "$K" ingest -q --bulk --source "$s" "$g/$s.csv" 2>/dev/null; done
    as analyst "$K" export --out "$g/kb.csv" 2>/dev/null
    intact "$K" && [ $whole = 1 ] && [ $inside -gt 0 ] && cmp -s "$g/kb.csv" "$g/bulk.csv" \
        && ok "bulk ingest killed $kills times, $inside inside its transaction: the store as before each, then as uninterrupted (left:$left; $INTACT)" \
        || bad "killed bulk ingest" "left:$left kills=$kills inside=$inside $(diff "$g/kb.csv" "$g/bulk.csv" | head -n 4)"
fi

echo "store ($(be_name)): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
