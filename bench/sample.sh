#!/bin/sh
# bench/sample.sh — how far the parameters move when EM and λ read a sample
# of the candidate pairs (model: em_sample_pairs) rather than all of them.
# Links bench/run's data once in full and once per sample size, and prints
# one JSON object: per sample, the train stage's seconds against the full
# fit's, the largest change of a level's weight (bits; global and in the
# contexts; any level, and the levels both matches and non-matches reach:
# m >= 0.001 and u >= 1e-6), the relative change of λ and of the λ per
# pair of sources, accuracy against the generator's truth (dovetail eval),
# and how many records' entities differ from the full fit's.
#
# m given a shared value (m_by_value) always reads every candidate: the
# sample is for EM and λ only.
set -eu

usage() {
    cat <<'TXT'
usage: bench/sample.sh --people N [--seed S] [--sample PAIRS]...

  --people N      the bench/run data to use (run bench/run --people N first)
  --seed S        its generator seed (default 1)
  --sample PAIRS  a sample size to try; repeat for several
                  (default: 1000000 and 4000000)
Build first: make bench.
TXT
}

people="" seed=1 samples=""
while [ $# -gt 0 ]; do
    case $1 in
    --people) people=${2:?--people needs a value}; shift 2 ;;
    --seed) seed=${2:?--seed needs a value}; shift 2 ;;
    --sample) samples="$samples ${2:?--sample needs a value}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/sample.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done
[ -n "$people" ] || { echo "bench/sample.sh: --people is required" >&2; usage >&2; exit 2; }
[ -n "$samples" ] || samples="1000000 4000000"
case $people$seed$(echo "$samples" | tr -d ' ') in
*[!0-9]*) echo "bench/sample.sh: numbers only" >&2; exit 2 ;;
esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DT=$ROOT/build/release/dovetail
[ -x "$DT" ] || { echo "bench/sample.sh: $DT is missing: run 'make bench' first" >&2; exit 1; }
DATA=$ROOT/bench/data/p$people-s$seed
[ -f "$DATA/bench.yaml" ] || {
    echo "bench/sample.sh: no data in $DATA: run bench/run --people $people first" >&2
    exit 1
}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-sample.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# run NAME CONFIG: link into $WORK/NAME, with stats and eval beside it
run() {
    "$DT" link --quiet --config "$2" --out "$WORK/$1" --stats "$WORK/$1.stats.json" \
        >/dev/null 2>"$WORK/$1.log" || { cat "$WORK/$1.log" >&2; exit 1; }
    "$DT" eval --json --config "$2" --out "$WORK/$1" >"$WORK/$1.eval.json"
}

echo "bench/sample.sh: full fit" >&2
run full "$DATA/bench.yaml"
for s in $samples; do
    echo "bench/sample.sh: sample of $s pairs" >&2
    # the same config with em_sample_pairs under model:
    sed "s/^model:\$/model:\n  em_sample_pairs: $s/" "$DATA/bench.yaml" >"$WORK/s$s.yaml"
    grep -q "em_sample_pairs: $s" "$WORK/s$s.yaml" || {
        echo "bench/sample.sh: no 'model:' line in $DATA/bench.yaml" >&2
        exit 1
    }
    run "s$s" "$WORK/s$s.yaml"
done

python3 - "$WORK" "$people" $samples <<'PY'
import csv, json, math, sys
work, people, samples = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def load(name):
    model = json.load(open(f"{work}/{name}/model.json"))
    stats = json.load(open(f"{work}/{name}.stats.json"))
    ev = json.load(open(f"{work}/{name}.eval.json"))
    return model, stats, ev

def weights(model):
    """(context, comparison, level) -> (weight in bits, m, u)."""
    w = {}
    for c in model["comparisons"]:
        for lv in c["levels"]:
            w[("", c["name"], lv["level"])] = (lv["weight"], lv["m"], lv["u"])
    for x in model.get("contexts", []):
        for comp, levels in x.get("levels", {}).items():
            for lv in levels:
                w[(x.get("name", "?"), comp, lv["level"])] = (lv["weight"], lv["m"], lv["u"])
    return w

def largest(deltas, keep):
    """The largest change among the levels keep() takes, and where."""
    got = {k: v for k, v in deltas.items() if keep(k)}
    if not got:
        return 0.0, ""
    k = max(got, key=got.get)
    return round(got[k], 4), " / ".join(x for x in k if x)

def entities(name):
    with open(f"{work}/{name}/entities.csv", newline="") as f:
        rows = csv.reader(f)
        next(rows)
        return {(src, rid): e for src, rid, e in rows}

def members(ent):
    """record -> the set of records in its entity, as a frozenset id."""
    by = {}
    for r, e in ent.items():
        by.setdefault(e, []).append(r)
    return {r: frozenset(rs) for rs in by.values() for r in rs}

def relative(a, b):
    return abs(a - b) / abs(b) if b else (0.0 if a == b else math.inf)

full_model, full_stats, full_eval = load("full")
full_w = weights(full_model)
full_groups = members(entities("full"))
out = {"people": people, "candidate_pairs": full_stats["candidate_pairs"],
       "full": {"train_seconds": full_stats["seconds"]["train"],
                "f1": full_eval.get("f1"), "lambda": full_model["lambda"]},
       "samples": []}
for s in samples:
    model, stats, ev = load(f"s{s}")
    w = weights(model)
    deltas = {k: abs(w[k][0] - full_w[k][0]) for k in full_w if k in w}
    # Levels both matches and non-matches reach (m >= 0.001 and u >= 1e-6
    # in the full fit) decide links; elsewhere m or u sits near its floor,
    # where a few pairs more or less move the weight by bits and change
    # little (a context's EM fits u too, down to 1e-12).
    common = lambda k: full_w[k][1] >= 0.001 and full_w[k][2] >= 1e-6
    glob, glob_at = largest(deltas, lambda k: not k[0])
    glob_c, glob_c_at = largest(deltas, lambda k: not k[0] and common(k))
    ctx, ctx_at = largest(deltas, lambda k: bool(k[0]))
    ctx_c, ctx_c_at = largest(deltas, lambda k: bool(k[0]) and common(k))
    sp = model.get("lambda_by_sources", {})
    sp_full = full_model.get("lambda_by_sources", {})
    sp_rel = {k: relative(sp[k], sp_full[k]) for k in sp_full if k in sp}
    sp_at = max(sp_rel, key=sp_rel.get) if sp_rel else ""
    groups = members(entities(f"s{s}"))
    moved = sum(1 for r, g in full_groups.items() if groups.get(r) != g)
    out["samples"].append({
        "em_sample_pairs": int(s),
        "train_seconds": stats["seconds"]["train"],
        "largest_weight_change_bits": {
            "global": {"any_level": glob, "at": glob_at,
                       "common_levels": glob_c, "common_at": glob_c_at},
            "contexts": {"any_level": ctx, "at": ctx_at,
                         "common_levels": ctx_c, "common_at": ctx_c_at}},
        "lambda_relative_change": round(relative(model["lambda"], full_model["lambda"]), 5),
        "lambda_by_sources_largest_relative_change": round(sp_rel.get(sp_at, 0.0), 5),
        "lambda_by_sources_at": sp_at,
        "f1": ev.get("f1"),
        "records_whose_entity_differs": moved,
        "records": len(full_groups),
    })
print(json.dumps(out, indent=1))
PY
