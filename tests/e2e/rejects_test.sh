#!/bin/sh
# End-to-end tests of rejected rows: nothing a source sent is lost. Each
# rejected row goes verbatim, with file, lines and reason, to a rejects file
# (0600); link and ingest exit 1 when anything was rejected unless
# --max-rejected allows it; a snapshot with a rejected row withdraws
# nothing; a quote never closed reports every line it consumed; a value
# that is not UTF-8 is ingested as Latin-1 and its bytes kept exactly. A
# stray quote costs its own line; a second one inside the first one's
# look-ahead takes the lines to the end, and every one is reported and kept.
# Usage: tests/e2e/rejects_test.sh /abs/path/to/dovetail
# Ends with "rejects: N passed, N failed". Needs the sqlite3 shell and iconv.
set -u
DT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CFG=$ROOT/examples/febrl4.yaml
A=$ROOT/../shared/data/febrl/dataset4a.csv
T=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-rejects.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$HERE/govern_lib.sh"
. "$HERE/lib.sh"
field() { awk -v k="$1" '{ v = $2; if ($1 == k) print v }' "$2"; }
active() { sqlite3 "$1" "SELECT count(*) FROM record WHERE withdrawn = 0"; }
# COLUMN (default: row) of entry N of a rejects file, read by sqlite3's
# RFC 4180 importer: the bytes as kept, then a newline.
reject_row() {
    sqlite3 :memory: ".import --csv $1 r" "SELECT ${3:-row} FROM r LIMIT 1 OFFSET $(($2 - 1));"
}

# ---- link: a config of two small sources with every kind of broken row -------
mkdir -p "$T/l"
printf 'id,first,last,dob\n1,ann,lee,1980-01-02\n2,"bob,smith,1970-01-01\n3,cy,ray,1980-01-02\n4,"di,lee,1980-01-02\n5,eve,lee,1980-01-02\n' >"$T/l/a.csv"
printf 'id,first,last,dob\n1,ann,lee,1980-01-02\n2,too,many,1970-01-01,x\n,no,id,1980-01-02\n1,dup,id,1980-01-02\n4,"di"x,lee,1980-01-02\n5,eve,lee,1981-02-03\n' >"$T/l/b.csv"
cat >"$T/l/c.yaml" <<'YAML'
fields: {first: given_name, last: surname, dob: date}
sources:
  - {name: a, path: a.csv, id: id, columns: {first: first, last: last, dob: dob}}
  - {name: b, path: b.csv, id: id, columns: {first: first, last: last, dob: dob}}
blocking: {rules: [[last]]}
comparisons:
  - {field: first, levels: [exact]}
  - {field: dob, levels: [exact]}
model: {u_sample_pairs: 1000}
YAML
"$DT" link --config "$T/l/c.yaml" --out "$T/l/out" >"$T/l/log" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q '6 rows rejected, more than the 0 allowed' "$T/l/log" && [ ! -e "$T/l/out/entities.csv" ] \
    && ok "link: rejected rows stop the run before linking (exit 1)" || bad "link stops on rejects" "rc=$rc $(tail -n 3 "$T/l/log")"
R=$T/l/out/rejects.csv
[ -f "$R" ] && [ "$(stat -c %a "$R")" = 600 ] && ok "link: OUT/rejects.csv written, mode 0600" \
    || bad "link: rejects.csv 0600" "$(ls -l "$T/l/out" 2>&1)"
[ "$(head -n 1 "$R" 2>/dev/null)" = "file,line,last_line,reason,row" ] && ok "rejects.csv has its header" \
    || bad "rejects.csv header" "$(head -n 1 "$R" 2>/dev/null)"
# a.csv: the quote opened on line 3 is closed by line 5's, then 'd': a
# stray quote, so line 3 alone is rejected and line 4 reads on. Line 5's
# quote lies where that look-ahead read: it takes lines 5-6, all kept.
[ "$(reject_row "$R" 1 line),$(reject_row "$R" 1 last_line)" = "3,3" ] \
    && [ "$(reject_row "$R" 1)" = "$(sed -n 3p "$T/l/a.csv")" ] \
    && grep -q 'a.csv:3:3: unexpected .d. after the closing quote of field 2 (opened at line 3, column 3).*taken as a stray quote: reading goes on at line 4: row rejected' "$T/l/log" \
    && ok "a stray quote: its line alone rejected, verbatim; the next line reads on" \
    || bad "stray quote rejected alone" "$(cat "$R") $(grep a.csv "$T/l/log")"
[ "$(reject_row "$R" 2 line),$(reject_row "$R" 2 last_line)" = "5,6" ] \
    && [ "$(reject_row "$R" 2)" = "$(sed -n 5,6p "$T/l/a.csv")" ] \
    && grep -q 'a.csv:5:3: unterminated quoted field.*took lines 5-6 (2 lines): all rejected' "$T/l/log" \
    && ok "a quote never closed: every line it consumed named and kept verbatim" \
    || bad "consumed lines named and kept" "$(cat "$R") $(grep a.csv "$T/l/log")"
ok_rows=1
for n in 3 4 5 6; do # b.csv's lines 3-6, each rejected for its own reason
    i=$n
    [ "$(reject_row "$R" "$i")" = "$(sed -n "${n}p" "$T/l/b.csv")" ] && [ "$(reject_row "$R" "$i" line)" = "$n" ] || ok_rows=0
done
[ $ok_rows = 1 ] && ok "wrong field count, empty id, repeated id, text after quote: each verbatim with its line" \
    || bad "b.csv rows verbatim" "$(cat "$R")"
for why in "row has 5 fields, the header has 4" "empty record id in column 'id'" \
    "record id '1' repeats line 2" "unexpected 'x' after the closing quote"; do
    grep -qF "$why" "$R" || { bad "reason in rejects.csv: $why"; continue; }
    ok "reason in rejects.csv: $why"
done
"$DT" link --config "$T/l/c.yaml" --out "$T/l/out" --max-rejected 5 >"$T/l/log" 2>&1; rc=$?
[ $rc -eq 1 ] && ok "--max-rejected 5 < 6 rejected: exit 1" || bad "--max-rejected 5" "rc=$rc"
"$DT" link --config "$T/l/c.yaml" --out "$T/l/out" --max-rejected 6 --rejects "$T/l/mine.csv" >"$T/l/log" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q 'rejected rows    6' "$T/l/log" && [ "$(tail -n +2 "$T/l/out/entities.csv" | wc -l)" -eq 4 ] \
    && ok "--max-rejected 6: the run goes on with the 4 good records" || bad "--max-rejected 6" "rc=$rc $(tail -n 3 "$T/l/log")"
[ -f "$T/l/mine.csv" ] && [ ! -e "$T/l/out/rejects.csv" ] && grep -q "each is in $T/l/mine.csv" "$T/l/log" \
    && ok "--rejects FILE; a stale OUT/rejects.csv is removed" || bad "--rejects FILE" "$(ls "$T/l/out")"

# ---- quotes never closed in a big file ---------------------------------------
# 150,000 rows of ~120 bytes (18 MB). The stray quote on line 120 meets line
# 130's: line 120 alone is rejected. Line 130's quote, inside that
# look-ahead, swallows rows until the row passes 16 MiB, then the reader
# resynchronises: every line is reported and kept.
awk 'BEGIN { print "id,first,last,dob,pad"; p = sprintf("%100s", ""); gsub(/ /, "x", p)
             for (i = 2; i <= 150001; i++)
                 printf "%d,%s,lee,1980-01-02,%s\n", i, (i == 120 || i == 130 ? "\"ann" : "ann"), p }' >"$T/l/a.csv"
printf 'id,first,last,dob\n' >"$T/l/b.csv"
"$DT" link --config "$T/l/c.yaml" --out "$T/l/big" >"$T/l/log" 2>&1; rc=$?
line=$(sed -n 's/.*took lines 130-\([0-9]*\) (\([0-9]*\) lines).*/\1 \2/p' "$T/l/log")
set -- $line
if [ $rc -eq 1 ] && [ $# -eq 2 ] && [ $(($1 - 130 + 1)) -eq "$2" ] && [ "$2" -gt 130000 ] \
    && grep -q '2 rows rejected' "$T/l/log"; then
    ok "16 MiB quote: lines 130-$1 ($2 lines) reported consumed; line 120 alone"
else bad "16 MiB quote reported with its lines" "rc=$rc $(grep -m 3 'a.csv\|rejected' "$T/l/log")"; fi
R=$T/l/big/rejects.csv
[ -f "$R" ] && [ "$(reject_row "$R" 2 | wc -l)" -eq "${2:-0}" ] && [ "$(reject_row "$R" 2 last_line)" = "${1:-}" ] \
    && [ "$(reject_row "$R" 1 line),$(reject_row "$R" 1 last_line)" = "120,120" ] \
    && ok "all the consumed lines are in the rejects file" || bad "consumed lines kept" "$(head -c 300 "$R")"

# ---- ingest: exit status, rejects file, snapshot ------------------------------
gv_setup "$T/s.db" "$CFG" || bad "store setup" "gv_setup failed"
head -n 301 "$A" >"$T/full.csv"
(cd "$T" && as steward "$T/s.db" ingest --source a "$T/full.csv" 2>"$T/in1"); rc=$?
[ $rc -eq 0 ] && [ "$(field new "$T/in1")" = 300 ] && [ ! -e "$T/full.rejects.csv" ] \
    && ok "ingest of 300 good rows: exit 0, no rejects file" || bad "clean ingest" "rc=$rc $(cat "$T/in1")"
# The same 300 rows, one with a stray quote (line 52). It would have
# swallowed the rest, and the snapshot withdrawn their 250 records.
awk -F', ' 'NR == 52 { $2 = "\"" $2 } { print }' OFS=', ' "$T/full.csv" >"$T/snap.csv"
(cd "$T" && as steward "$T/s.db" ingest --source a --snapshot "$T/snap.csv" 2>"$T/in2"); rc=$?
[ $rc -eq 1 ] && [ "$(active "$T/s.db")" = 300 ] && grep -q 'snapshot not applied' "$T/in2" \
    && ok "a snapshot with a rejected row withdraws nothing and exits 1" \
    || bad "snapshot with a rejected row" "rc=$rc active=$(active "$T/s.db") $(tail -n 2 "$T/in2")"
grep -q 'snap.csv:52:15: .*reading goes on at line 53: row rejected' "$T/in2" && grep -q "each is in snap.rejects.csv" "$T/in2" \
    && ok "...and names the rejected lines and the rejects file" || bad "snapshot names the rejected rows" "$(cat "$T/in2")"
[ -f "$T/snap.rejects.csv" ] && [ "$(stat -c %a "$T/snap.rejects.csv")" = 600 ] \
    && [ "$(reject_row "$T/snap.rejects.csv" 1)" = "$(sed -n 52p "$T/snap.csv" | sed 's/\r$//')" ] \
    && ok "ingest's default rejects file (CSV name .rejects.csv, here) holds line 52 verbatim" \
    || bad "ingest rejects file" "$(ls -l "$T")"
head -n 101 "$T/full.csv" >"$T/part.csv"
(cd "$T" && as steward "$T/s.db" ingest --source a --snapshot "$T/part.csv" 2>"$T/in3"); rc=$?
[ $rc -eq 0 ] && [ "$(field withdrawn "$T/in3")" = 200 ] && ok "a clean snapshot still withdraws what it leaves out" \
    || bad "clean snapshot" "rc=$rc $(cat "$T/in3")"
{ cat "$T/full.csv"; sed -n 2p "$T/full.csv"; } >"$T/dup.csv"
as steward "$T/s.db" ingest --source a --rejects "$T/dup.rejects" "$T/dup.csv" 2>"$T/in4"; rc=$?
[ $rc -eq 1 ] && [ "$(active "$T/s.db")" = 300 ] && grep -q 'the 300 accepted rows are stored' "$T/in4" \
    && grep -q "repeats line 2" "$T/dup.rejects" \
    && ok "ingest with a repeated id: accepted rows stored, exit 1, row in --rejects FILE" \
    || bad "ingest exit status on rejects" "rc=$rc active=$(active "$T/s.db") $(tail -n 2 "$T/in4")"
as steward "$T/s.db" ingest --source a --rejects "$T/dup.rejects" --max-rejected 1 "$T/dup.csv" 2>"$T/in5"; rc=$?
[ $rc -eq 0 ] && grep -q 'rejected rows    1' "$T/in5" \
    && ok "--max-rejected 1 allows it: exit 0" || bad "ingest --max-rejected" "rc=$rc $(cat "$T/in5")"

# ---- invalid UTF-8: ingested as Latin-1, bytes kept exactly -------------------------
{ head -n 1 "$A"; printf 'rec-9001-org, anna, m\374ller, 8, stanley street, miami, winston hills, 4223, nsw, 19151111, 5304218\n'
  sed -n 302,311p "$A"; } >"$T/latin1.csv"
as steward "$T/s.db" ingest --source a "$T/latin1.csv" 2>"$T/in6"; rc=$?
[ $rc -eq 0 ] && [ "$(field new "$T/in6")" = 11 ] && ok "a row with invalid UTF-8 and the rows after it are ingested" \
    || bad "invalid UTF-8 ingest" "rc=$rc $(cat "$T/in6")"
# Records are sealed in the store: read the row back through the store's
# own calls (a model first, then the record's entity and an explanation).
as admin "$T/s.db" train >/dev/null 2>"$T/err" || bad "train" "$(tail -n 2 "$T/err")"
as analyst "$T/s.db" export --out "$T/e.csv" 2>/dev/null
ent=$(grep ',rec-9001-org,' "$T/e.csv" | cut -d, -f3)
raw=$(as analyst "$T/s.db" entity "$ent" 2>/dev/null | grep '^a:rec-9001-org' | cut -f2 |
      jq -r '.surname.latin1')
[ "$(printf '%s' "$raw" | iconv -f UTF-8 -t LATIN1 | od -An -tx1)" = "$(printf 'm\374ller' | od -An -tx1)" ] \
    && ok "the raw value is {\"latin1\": ...}: its Latin-1 bytes are the bytes sent" || bad "raw bytes kept" "raw=$raw"
other=$(sed -n 303p "$T/latin1.csv" | cut -d, -f1)
as analyst "$T/s.db" explain --json a:rec-9001-org "a:$other" 2>"$T/err" |
    jq -e '.comparisons[] | select(.comparison == "surname") | .a == "muller"' >/dev/null \
    && ok "and it is standardized as Latin-1, as link does" || bad "Latin-1 standardization" "$(cat "$T/err")"

echo "rejects: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
