#!/bin/sh
# End-to-end: `dovetail migrate` moves a governed SQLite store (bench-gen's
# registries, a model, findings: govern_lib.sh's gv_bench_store) into a
# private PostgreSQL 15 (tests/pg-server: a Unix socket only, no password
# anywhere), and back. On the copy: every table holds the source's rows
# (audit log, heads, sealed records byte for byte), `audit verify` passes
# with the same entries and heads (and the source's earlier witness), the
# migrate's own entry is the last and a head covers it; export, entity,
# resolve and findings list answer as on the source. Refused cleanly: a
# key file that does not open the source, a destination that holds a
# store, a URL that does not connect (its password never printed), a
# source that is not there, a principal that is not an admin. A killed
# migrate leaves no store, and runs again.
# Usage: tests/e2e/migrate_test.sh /abs/path/to/dovetail /abs/path/to/bench-gen
set -u
DT=${1:?usage: migrate_test.sh DOVETAIL BENCH-GEN}
GEN=${2:?usage: migrate_test.sh DOVETAIL BENCH-GEN}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"
. "$HERE/govern_lib.sh"
T=$(mktemp -d /tmp/dovetail-migrate.XXXXXX)
PGD=$(mktemp -d -u /tmp/dovetail-pgsrv.XXXXXX)
trap '"$ROOT/tests/pg-server" stop "$PGD"; rm -rf "$T"' EXIT
SRV=$("$ROOT/tests/pg-server" start "$PGD") || { echo "FAIL  PostgreSQL starts"; exit 1; }
unset DOVETAIL_KEY_FILE # gv_setup sets it: the store's own, $T/s.db.key

gv_bench_store "$T"
S=$T/s.db
db() { # a new database; its URL
    psql -q "$SRV" -c "CREATE DATABASE $1" >/dev/null 2>&1
    echo "$SRV" | sed "s|:///postgres?|:///$1?|"
}
sql() { psql -tAq "$1" -c "$2"; }
lite() { sqlite3 "$1" "$2"; }
migrate() { DOVETAIL_TOKEN=$(cat "$S.admin") "$DT" migrate --purpose move "$@"; }
auditor() { # SUBCOMMAND STORE ARGS...
    _sub=$1 _s=$2
    shift 2
    DOVETAIL_TOKEN=$(cat "$S.auditor") "$DT" audit "$_sub" --store "$_s" --purpose oversight "$@"
}
on() { # ROLE STORE COMMAND ARGS...: as govern_lib's `as`, on any store, with the source's tokens
    _r=$1 _s=$2 _c=$3
    shift 3
    DOVETAIL_TOKEN=$(cat "$S.$_r") "$DT" "$_c" --store "$_s" --purpose test "$@"
}
has_store() { sql "$1" "SELECT count(*) FROM pg_tables WHERE tablename = 'meta'"; }

auditor witness "$S" --out "$T/before.witness" >/dev/null 2>&1 || bad "a witness of the source"

# ---- SQLite to PostgreSQL ------------------------------------------------------------
U=$(db copy)
migrate --from "$S" --to "$U" >"$T/m.out" 2>"$T/m.err" \
    && ok "migrate copies the SQLite store into PostgreSQL ($(tail -n 1 "$T/m.err" | sed 's/.*: \([0-9]* tables, [0-9]* rows\).*/\1/'))" \
    || bad "migrate" "$(cat "$T/m.err")"
TABLES=$(lite "$S" "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
for t in $TABLES; do grep -q "^$t  *[0-9]* rows" "$T/m.err" || echo "$t"; done >"$T/unnamed"
[ ! -s "$T/unnamed" ] && ok "progress on stderr names every table with its rows" \
    || bad "progress" "$(cat "$T/unnamed")"
for t in $TABLES; do
    a=$(lite "$S" "SELECT count(*) FROM $t") b=$(sql "$U" "SELECT count(*) FROM $t")
    [ "$a" = "$b" ] || echo "$t: $a in the source, $b in the copy"
done >"$T/counts"
[ -n "$TABLES" ] && [ ! -s "$T/counts" ] \
    && ok "every table holds the same number of rows ($(echo $TABLES | wc -w) tables, $(lite "$S" "SELECT count(*) FROM record") records)" \
    || bad "row counts" "$(head -n 5 "$T/counts")"

# rows verbatim: the log, its heads and subjects, principals, sealed records and history
same_rows() { # what, sqlite select, postgresql select
    lite "$S" "$2" >"$T/a" && sql "$U" "$3" >"$T/b" && [ -s "$T/a" ] && cmp -s "$T/a" "$T/b" \
        && ok "$1 equal, byte for byte ($(wc -l <"$T/a") rows)" \
        || bad "$1 differ" "$(diff "$T/a" "$T/b" | head -n 3)"
}
same_rows "audit entries" \
    "SELECT seq, time, principal, purpose, action, fields, outcome, n_subjects, lower(hex(leaf_hash)) FROM audit ORDER BY seq" \
    "SELECT seq, time, principal, purpose, action, fields, outcome, n_subjects, encode(leaf_hash, 'hex') FROM audit ORDER BY seq"
same_rows "signed heads" \
    "SELECT size, time, lower(hex(root)), lower(hex(signature)), lower(hex(frontier)) FROM tree_head ORDER BY size" \
    "SELECT size, time, encode(root, 'hex'), encode(signature, 'hex'), encode(frontier, 'hex') FROM tree_head ORDER BY size"
same_rows "audit subjects" "SELECT seq, i, subject FROM audit_subject ORDER BY seq, i" \
    "SELECT seq, i, subject FROM audit_subject ORDER BY seq, i"
same_rows "principals (token hashes)" \
    "SELECT id, name, role, sources, lower(hex(token_hash)), created, revoked FROM principal ORDER BY id" \
    "SELECT id, name, role, sources, encode(token_hash, 'hex'), created, revoked FROM principal ORDER BY id"
same_rows "sealed records" \
    "SELECT id, source, record_id, lower(hex(raw)), lower(hex(norm)), version, withdrawn, received FROM record ORDER BY id" \
    "SELECT id, source, record_id, encode(raw, 'hex'), encode(norm, 'hex'), version, withdrawn, received FROM record ORDER BY id"
same_rows "findings (sealed evidence)" \
    "SELECT purpose, id, rule, state, evidence, sources, created FROM finding ORDER BY purpose, id" \
    "SELECT purpose, id, rule, state, evidence, sources, created FROM finding ORDER BY purpose COLLATE \"C\", id COLLATE \"C\""
same_rows "links" "SELECT a, b, rule FROM link ORDER BY a, b" "SELECT a, b, rule FROM link ORDER BY a, b"
[ "$(sql "$U" "SELECT count(*) FROM record WHERE position('ANAND' in encode(raw, 'escape')) > 0")" = 0 ] \
    && ok "record contents still sealed in the copy" || bad "sealed at rest"

# the migrate's own entry: the last, naming the copy, under a signed head
last=$(sql "$U" "SELECT a.action || ' ' || a.outcome || ' ' || s.subject FROM audit a JOIN audit_subject s ON s.seq = a.seq ORDER BY a.seq DESC LIMIT 1")
[ "$last" = "store.migrate allowed store:$U" ] && ok "the copy's last entry is the migrate's, naming the copy" \
    || bad "migrate entry" "$last"
[ "$(sql "$U" "SELECT max(size) FROM tree_head")" = "$(sql "$U" "SELECT max(seq) FROM audit")" ] \
    && ok "a head is signed over the migrate's entry" || bad "head over the entry"

# audit verify: the same entries and heads on both, and the source's earlier witness holds
auditor verify "$S" >"$T/v.src" 2>&1
auditor verify "$U" >"$T/v.copy" 2>&1; rc=$?
[ $rc = 0 ] && grep -q "ok: every entry" "$T/v.copy" && cmp -s "$T/v.src" "$T/v.copy" \
    && ok "audit verify passes on the copy with the source's entries and heads ($(head -n 1 "$T/v.copy" | tr -s ' '))" \
    || bad "audit verify" "rc=$rc $(cat "$T/v.src" "$T/v.copy")"
auditor verify "$U" --witness "$T/before.witness" >"$T/v.w" 2>&1 && grep -q "ok: every entry" "$T/v.w" \
    && ok "the copy passes against the witness of the source's heads taken before" \
    || bad "witness" "$(cat "$T/v.w")"

# governed reads answer as on the source
on analyst "$S" export --out "$T/src.csv" 2>/dev/null
on analyst "$U" export --out "$T/copy.csv" 2>/dev/null
[ -s "$T/src.csv" ] && cmp -s "$T/src.csv" "$T/copy.csv" \
    && ok "export of the copy equals the source's, entity ids too ($(($(wc -l <"$T/src.csv") - 1)) records)" \
    || bad "export" "$(diff "$T/src.csv" "$T/copy.csv" | head -n 3)"
on analyst "$S" findings list >"$T/f.src" 2>&1
on analyst "$U" findings list >"$T/f.copy" 2>&1
[ -s "$T/f.src" ] && cmp -s "$T/f.src" "$T/f.copy" \
    && ok "findings list the same ($(grep -c '"finding_id"' "$T/f.src") findings)" \
    || bad "findings" "$(diff "$T/f.src" "$T/f.copy" | head -n 3)"
entity=$(sed -n 2p "$T/src.csv" | cut -d, -f3)
on analyst "$S" entity "$entity" >"$T/e.src" 2>&1
on analyst "$U" entity "$entity" >"$T/e.copy" 2>&1
[ -s "$T/e.src" ] && cmp -s "$T/e.src" "$T/e.copy" \
    && ok "an entity's records open in the copy, as in the source (sealed contents, same key file)" \
    || bad "entity" "$(cat "$T/e.copy" | head -n 3)"
# one benefits row as a record, under another id: resolve finds the stored one
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[i] = $i; next }
         NR == 2 { printf "{"; for (i = 1; i <= NF; i++) printf "%s\"%s\": \"%s\"", (i > 1 ? ", " : ""), h[i], (i == 1 ? "query" : $i); print "}"; exit }' \
    "$T/g/benefits.csv" >"$T/q.json"
id=$(sed -n 2p "$T/g/benefits.csv" | cut -d, -f1)
on analyst "$S" resolve --source benefits <"$T/q.json" >"$T/r.src" 2>&1
on analyst "$U" resolve --source benefits <"$T/q.json" >"$T/r.copy" 2>&1
grep -q "\"record_id\": \"$id\"" "$T/r.copy" && cmp -s "$T/r.src" "$T/r.copy" \
    && ok "resolve on the copy finds the stored record, as on the source" \
    || bad "resolve" "$(head -c 300 "$T/r.copy")"

# ---- refused cleanly ---------------------------------------------------------------
umask 077
printf '# another key\n%s\n' "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" >"$T/other.key"
W=$(db wrongkey)
DOVETAIL_TOKEN=$(cat "$S.admin") "$DT" migrate --from "$S" --to "$W" --purpose move \
    --key "$T/other.key" >/dev/null 2>"$T/key.err"; rc=$?
[ $rc = 1 ] && grep -q "key file" "$T/key.err" && [ "$(has_store "$W")" = 0 ] \
    && ok "a key file that does not open the source is refused, nothing written" \
    || bad "wrong key" "rc=$rc $(cat "$T/key.err")"
n_before=$(sql "$U" "SELECT count(*) FROM audit")
migrate --from "$S" --to "$U" >/dev/null 2>"$T/again.err"; rc=$?
[ $rc = 1 ] && grep -q "already there" "$T/again.err" && [ "$(sql "$U" "SELECT count(*) FROM audit")" = "$n_before" ] \
    && ok "a destination that holds a store is refused, and left as it was" \
    || bad "non-empty destination" "rc=$rc $(cat "$T/again.err")"
[ "$(lite "$S" "SELECT group_concat(outcome, ' ') FROM (SELECT outcome FROM audit WHERE action = 'store.migrate' ORDER BY seq DESC LIMIT 2)")" = "failed allowed" ] \
    && ok "the refused migrate is on the source's log: allowed, then failed" \
    || bad "failed entry" "$(lite "$S" "SELECT seq, action, outcome FROM audit ORDER BY seq DESC LIMIT 3")"
migrate --from "$S" --to "postgresql://who:hunter2@/nodb?host=$PGD" >/dev/null 2>"$T/url.err"; rc=$?
[ $rc = 1 ] && ! grep -q hunter2 "$T/url.err" && grep -q "postgresql://who@/nodb" "$T/url.err" \
    && ok "a URL that does not connect is a clear error, its password not printed" \
    || bad "bad URL" "rc=$rc $(cat "$T/url.err")"
migrate --from "$S" --to "$(db withpw)&password=sekrit" >/dev/null 2>"$T/pw.err" \
    && ! grep -q sekrit "$T/pw.err" && grep -q "migrated .* to postgresql:///withpw" "$T/pw.err" \
    && [ "$(lite "$S" "SELECT count(*) FROM audit_subject WHERE subject LIKE '%sekrit%'")" = 0 ] \
    && ok "a URL's password is neither printed nor logged when the migrate succeeds" \
    || bad "password on success" "$(cat "$T/pw.err")"
migrate --from "$S" --to "mysql://who:hunter2@db/x" >/dev/null 2>"$T/scheme.err"; rc=$?
[ $rc = 1 ] && grep -q "not a store's place" "$T/scheme.err" && ! grep -q hunter2 "$T/scheme.err" \
    && [ "$(lite "$S" "SELECT count(*) FROM audit_subject WHERE subject LIKE '%hunter2%'")" = 0 ] \
    && ok "another scheme is refused, its password neither printed nor logged" \
    || bad "scheme" "rc=$rc $(cat "$T/scheme.err")"
migrate --from "$T/none.db" --to "$(db nosource)" >/dev/null 2>"$T/nosrc.err"; rc=$?
[ $rc = 1 ] && grep -q "none.db: no store there" "$T/nosrc.err" && ok "a source that is not there is refused" \
    || bad "no source" "rc=$rc $(cat "$T/nosrc.err")"
DOVETAIL_TOKEN=$(cat "$S.analyst") "$DT" migrate --from "$S" --to "$(db denied)" --purpose move \
    >/dev/null 2>"$T/deny.err"; rc=$?
[ $rc = 1 ] && grep -q "may not store.migrate" "$T/deny.err" \
    && [ "$(lite "$S" "SELECT outcome FROM audit ORDER BY seq DESC LIMIT 1")" = denied ] \
    && ok "only an admin migrates; the denial is logged" || bad "analyst" "rc=$rc $(cat "$T/deny.err")"
migrate --from "$S" >/dev/null 2>"$T/usage.err"; rc=$?
[ $rc = 2 ] && grep -q -- "--to is required" "$T/usage.err" && "$DT" migrate --help >/dev/null \
    && ok "usage: --to missing is exit 2; --help" || bad "usage" "rc=$rc $(cat "$T/usage.err")"

# ---- a killed migrate leaves no store; run again, it completes ------------------------
# (test builds pause DOVETAIL_TEST_COPY_PAUSE_MS after each table; others may finish first)
K=$(db killed)
DOVETAIL_TEST_COPY_PAUSE_MS=300 DOVETAIL_TOKEN=$(cat "$S.admin") \
    "$DT" migrate -q --from "$S" --to "$K" --purpose move >/dev/null 2>&1 & # the process itself
pid=$!
sleep 2
kill -9 $pid 2>/dev/null && killed=1 || killed=0
wait $pid 2>/dev/null
[ $killed = 0 ] || [ "$(has_store "$K")" = 0 ] \
    && ok "a killed migrate leaves no store ($killed killed)" || bad "killed migrate left tables"
if [ $killed = 1 ]; then
    migrate -q --from "$S" --to "$K" >/dev/null 2>"$T/k.err" \
        && auditor verify "$K" >"$T/v.k" 2>&1 && grep -q "ok: every entry" "$T/v.k" \
        && ok "run again, the migrate completes and verifies" || bad "after the kill" "$(cat "$T/k.err" "$T/v.k")"
fi

# ---- and back: PostgreSQL to SQLite, and SQLite to another file -----------------------
migrate -q --from "$U" --to "$T/back.db" >/dev/null 2>"$T/back.err" \
    && auditor verify "$T/back.db" >"$T/v.back" 2>&1 && grep -q "ok: every entry" "$T/v.back" \
    && on analyst "$T/back.db" export --out "$T/back.csv" 2>/dev/null && cmp -s "$T/src.csv" "$T/back.csv" \
    && ok "PostgreSQL to SQLite: verify passes, export equals the source's" \
    || bad "back to SQLite" "$(cat "$T/back.err" "$T/v.back")"
[ "$(stat -c %a "$T/back.db")" = 600 ] && ok "the SQLite copy is 0600" || bad "mode" "$(stat -c %a "$T/back.db")"
migrate -q --from "$S" --to "$T/back.db" >/dev/null 2>"$T/exists.err"; rc=$?
[ $rc = 1 ] && grep -q "a file is already there" "$T/exists.err" \
    && ok "a file at the destination is refused" || bad "file there" "rc=$rc $(cat "$T/exists.err")"
migrate -q --from "$S" --to "$T/twin.db" >/dev/null 2>&1 && auditor verify "$T/twin.db" >/dev/null 2>&1 \
    && ok "SQLite to another file" || bad "SQLite to SQLite"

echo "migrate: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
