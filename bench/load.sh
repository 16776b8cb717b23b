#!/bin/sh
# bench/load.sh — loading a store at scale: the five registries of N people
# into an empty store that holds link's model (as a registry's first load),
# then `train` (fit on the store and resolve every record), then a daily
# delta (1% of the rows: half changed, half new) batch by batch. Prints
# one JSON object: seconds and rows/s per step, peak RSS per step, and
# whether the store's entities equal batch link's (partition compared).
#
# usage: bench/load.sh [--people N] [--seed S] [--mode auto|bulk|no-bulk]
#                      [--load together|each] [--store URL] [--keep DIR]
# --load together (the default) loads the five files with one command
# (ingest NAME=CSV...: in bulk, one transaction); each, one ingest a file.
# --store postgresql://...: the store in that (empty) database, not DIR/s.db.
# Build first: make bench. Needs about 3 GiB of disk at 1M people.
set -eu

people=1000000 seed=1 mode=auto keep= load=together store=
while [ $# -gt 0 ]; do
    case $1 in
    --people) people=${2:?}; shift 2 ;;
    --seed) seed=${2:?}; shift 2 ;;
    --mode) mode=${2:?}; shift 2 ;;
    --keep) keep=${2:?}; shift 2 ;;
    --load) load=${2:?}; shift 2 ;;
    --store) store=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/load.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
case $mode in auto|bulk|no-bulk) ;; *) echo "bench/load.sh: --mode auto, bulk or no-bulk" >&2; exit 2 ;; esac
case $load in together|each) ;; *) echo "bench/load.sh: --load together or each" >&2; exit 2 ;; esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DT=${DT:-$ROOT/build/release/dovetail} # DT=...: another build, to compare
GEN=$ROOT/build/release/bench-gen
for b in "$DT" "$GEN"; do
    [ -x "$b" ] || { echo "bench/load.sh: $b is missing: run 'make bench' first" >&2; exit 1; }
done
. "$ROOT/tests/e2e/govern_lib.sh"
. "$ROOT/tests/e2e/lib.sh"

W=${keep:-$(mktemp -d /tmp/dovetail-load.XXXXXX)}
mkdir -p "$W"
[ -n "$keep" ] || trap 'rm -rf "$W"' EXIT
log() { printf 'bench/load.sh: %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# timed NAME CMD...: runs CMD, appends "NAME seconds peak_kib" to $W/times
timed() {
    _n=$1; shift
    _t=$(now)
    /usr/bin/time -f %M -o "$W/rss" "$@"
    echo "$_n $(since "$_t") $(cat "$W/rss")" >>"$W/times"
}

if [ ! -f "$W/g/truth.csv" ]; then
    log "generating $people people (seed $seed)"
    "$GEN" --seed "$seed" --people "$people" --out "$W/g" >/dev/null
fi
sed "s|DATA/|$W/g/|g" "$ROOT/bench/bench.yaml" >"$W/bench.yaml"
rm -f "$W/times"
log "batch link (its model is the store's)"
timed link "$DT" link -q --config "$W/bench.yaml" --out "$W/batch" 2>"$W/link.log"

T=$W # gv_base: a URL store's token files go in $T
S=${store:-$W/s.db}
SB=$(gv_base "$S")
rm -f "$W/s.db" "$W/s.db"-* "$SB".key
unset DOVETAIL_KEY_FILE
gv_setup "$S" "$W/bench.yaml"
as admin "$S" train -q --model "$W/batch/model.json" 2>/dev/null
flag=; [ "$mode" = auto ] || flag=--$mode
rows=0
files=
for s in benefits deaths earners health voters; do
    n=$(($(wc -l <"$W/g/$s.csv") - 1))
    rows=$((rows + n))
    echo "$n" >"$W/rows_$s"
    files="$files $s=$W/g/$s.csv"
    [ "$load" = each ] || continue
    log "ingest $s ($n rows) $flag"
    DOVETAIL_TOKEN=$(cat "$SB.steward") timed "ingest_$s" "$DT" ingest -q $flag --store "$S" \
        --purpose test --source "$s" "$W/g/$s.csv" 2>>"$W/ingest.log"
done
if [ "$load" = together ]; then
    log "ingest the five files as one load ($rows rows) $flag"
    # shellcheck disable=SC2086 # NAME=CSV words
    DOVETAIL_TOKEN=$(cat "$SB.steward") timed ingest_all "$DT" ingest -q $flag --store "$S" \
        --purpose test $files 2>>"$W/ingest.log"
fi
as analyst "$S" export --out "$W/load.csv" 2>/dev/null
partition "$W/load.csv" >"$W/load.part"
partition "$W/batch/entities.csv" >"$W/batch.part"
load_equal=false
cmp -s "$W/load.part" "$W/batch.part" && load_equal=true

log "train (fit on the store, then resolve every record)"
DOVETAIL_TOKEN=$(cat "$SB.admin") timed train "$DT" train -q --store "$S" --purpose test 2>"$W/train.log"
log "train --model (link's model again)"
DOVETAIL_TOKEN=$(cat "$SB.admin") timed train_model "$DT" train -q --store "$S" --purpose test \
    --model "$W/batch/model.json" 2>>"$W/train.log"
as analyst "$S" export --out "$W/train.csv" 2>/dev/null
partition "$W/train.csv" >"$W/train.part"
train_equal=false
cmp -s "$W/train.part" "$W/batch.part" && train_equal=true

# A daily delta: 1% of the voters' rows, half of them changed (a new ZIP),
# half new records (copies under new ids), ingested batch by batch.
n=$(($(wc -l <"$W/g/voters.csv") - 1))
d=$((rows / 100))
awk -F, -v d="$d" -v n="$n" 'NR == 1 { print; next }
    NR - 1 <= d / 2 { $5 = sprintf("%05d", ($5 + 1) % 100000); print; next }
    NR - 1 > n - (d - d / 2) { $1 = $1 "X"; print }' OFS=, "$W/g/voters.csv" >"$W/delta.csv"
delta_rows=$(($(wc -l <"$W/delta.csv") - 1))
log "daily delta: $delta_rows voters rows"
DOVETAIL_TOKEN=$(cat "$SB.steward") timed delta "$DT" ingest -q --store "$S" --purpose test \
    --source voters "$W/delta.csv" 2>"$W/delta.log"

field() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$W/times"; }
rate() { awk -v r="$1" -v s="$2" 'BEGIN { printf "%.0f", r / s }'; }
load_s=0 load_kib=0
for s in benefits deaths earners health voters; do
    [ "$load" = each ] || break
    load_s=$(awk -v a="$load_s" -v b="$(field "ingest_$s" 2)" 'BEGIN { print a + b }')
    [ "$(field "ingest_$s" 3)" -gt "$load_kib" ] && load_kib=$(field "ingest_$s" 3)
done
[ "$load" = each ] || { load_s=$(field ingest_all 2); load_kib=$(field ingest_all 3); }
printf '{"people": %s, "seed": %s, "mode": "%s", "rows": %s, "link_seconds": %s, ' \
    "$people" "$seed" "$mode" "$rows" "$(field link 2)"
printf '"load": {"how": "%s", "seconds": %s, "rows_per_s": %s, "peak_mib": %s, "per_source": {' \
    "$load" "$load_s" "$(rate "$rows" "$load_s")" "$((load_kib / 1024))"
sep=
for s in benefits deaths earners health voters; do
    [ "$load" = each ] || break
    printf '%s"%s": {"rows": %s, "seconds": %s, "peak_mib": %s}' "$sep" "$s" "$(cat "$W/rows_$s")" \
        "$(field "ingest_$s" 2)" "$(($(field "ingest_$s" 3) / 1024))"
    sep=", "
done
printf '}, "entities_equal_batch": %s}, ' "$load_equal"
printf '"train": {"seconds": %s, "peak_mib": %s}, "train_model": {"seconds": %s, "peak_mib": %s, "entities_equal_batch": %s}, ' \
    "$(field train 2)" "$(($(field train 3) / 1024))" "$(field train_model 2)" \
    "$(($(field train_model 3) / 1024))" "$train_equal"
printf '"delta": {"rows": %s, "seconds": %s, "rows_per_s": %s, "peak_mib": %s}}\n' "$delta_rows" \
    "$(field delta 2)" "$(rate "$delta_rows" "$(field delta 2)")" "$(($(field delta 3) / 1024))"
