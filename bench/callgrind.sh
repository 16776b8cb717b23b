#!/bin/sh
# bench/callgrind.sh — instructions per stage of `dovetail link`, counted by
# callgrind (Ir): repeatable on this noisy machine where seconds are not,
# so a change to one stage shows in that stage's count. Generates N people
# with bench-gen (bench/bench.yaml's five registries), runs link under
# callgrind with a dump after each stage (stage_end in src/pipeline/link.c),
# and prints one JSON object: people, commit, and Ir per stage (read,
# index, block, compare, train, score, cluster, write) and in all.
#
# usage: bench/callgrind.sh [--people N] [--seed S] [--keep DIR]
# (N: 20,000 by default: about a minute under callgrind). Build first:
# make bench. DT=path/to/dovetail counts another build.
set -eu
people=20000 seed=1 keep=
while [ $# -gt 0 ]; do
    case $1 in
    --people) people=${2:?}; shift 2 ;;
    --seed) seed=${2:?}; shift 2 ;;
    --keep) keep=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/callgrind.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DT=${DT:-$ROOT/build/release/dovetail}
GEN=$ROOT/build/release/bench-gen
command -v valgrind >/dev/null || { echo "bench/callgrind.sh: no valgrind" >&2; exit 1; }
for b in "$DT" "$GEN"; do
    [ -x "$b" ] || { echo "bench/callgrind.sh: $b is missing: run 'make bench' first" >&2; exit 1; }
done
W=${keep:-$(mktemp -d /tmp/dovetail-callgrind.XXXXXX)}
mkdir -p "$W"
[ -n "$keep" ] || trap 'rm -rf "$W"' EXIT
[ -f "$W/g/truth.csv" ] || "$GEN" --seed "$seed" --people "$people" --out "$W/g" >/dev/null
sed "s|DATA/|$W/g/|g" "$ROOT/bench/bench.yaml" >"$W/bench.yaml"
rm -f "$W"/cg.out*
valgrind --tool=callgrind --dump-after='stage_end*' --callgrind-out-file="$W/cg.out" \
    "$DT" link -q --config "$W/bench.yaml" --out "$W/out" 2>"$W/valgrind.log" >/dev/null ||
    { tail -n 5 "$W/valgrind.log" >&2; exit 1; }
# One dump a stage, in stage order (cg.out.1 ... cg.out.8), then the rest.
stages="read index block compare train score cluster write"
printf '{"people": %s, "seed": %s, "commit": "%s", "ir": {' "$people" "$seed" \
    "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
k=0 sum=0 sep=
for s in $stages; do
    k=$((k + 1))
    ir=$(awk '/^summary:/ { print $2 }' "$W/cg.out.$k")
    sum=$((sum + ir))
    printf '%s"%s": %s' "$sep" "$s" "$ir"
    sep=", "
done
printf '}, "ir_stages": %s}\n' "$sum"
