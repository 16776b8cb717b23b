#!/bin/sh
# bench/labels.sh — what reviewers' labels buy: F1 of a store's entities
# against bench-gen's truth, before any decision, after K decisions on the
# review queue's most doubtful pairs (given from the truth through the HTTP
# API, as a reviewer would give them: POST /v1/review/decisions), and after
# `train --labels` refits m from them. Prints one JSON object.
#
# Usage: bench/labels.sh [PEOPLE] [LABELS]   (defaults 20000 and 200)
#   DT: another build to compare (default build/release/dovetail).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DT=${DT:-$ROOT/build/release/dovetail}
GEN=${GEN:-$ROOT/build/release/bench-gen}
PEOPLE=${1:-20000}
K=${2:-200}
T=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-labels.XXXXXX")
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$T"' EXIT
. "$ROOT/tests/e2e/govern_lib.sh"
S=$T/s.db

"$GEN" --seed 11 --people "$PEOPLE" --out "$T/g" >/dev/null
sed "s|DATA/|$T/g/|g" "$ROOT/bench/bench.yaml" >"$T/c.yaml"
gv_setup "$S" "$T/c.yaml"
DOVETAIL_TOKEN=$(cat "$S.admin") "$DT" principal add reviewer --role reviewer --store "$S" \
    --purpose setup >"$S.reviewer" 2>/dev/null
for s in deaths benefits earners health voters; do
    as steward "$S" ingest -q --source $s "$T/g/$s.csv" >/dev/null 2>&1
done
DOVETAIL_TOKEN=$(cat "$S.admin") "$DT" train -q --store "$S" --purpose test 2>/dev/null

# pairwise precision, recall and F1 of the store's entities against the truth
score() {
    as analyst "$S" export --out "$T/e.csv" >/dev/null 2>&1
    python3 - "$T/e.csv" "$T/g/truth.csv" <<'PY'
import csv, json, sys
from collections import Counter
truth = {}
with open(sys.argv[2]) as f:
    for r in csv.DictReader(f):
        truth[(r["source"], r["record_id"])] = r["entity"]
pred, both = Counter(), Counter()
true = Counter(truth.values())
with open(sys.argv[1]) as f:
    for r in csv.DictReader(f):
        t = truth.get((r["source"], r["record_id"]))
        if t is None:
            continue
        pred[r["entity_id"]] += 1
        both[(r["entity_id"], t)] += 1
c2 = lambda n: n * (n - 1) // 2
tp = sum(c2(n) for n in both.values())
pp = sum(c2(n) for n in pred.values())
tt = sum(c2(n) for n in true.values())
p, r = tp / pp if pp else 1.0, tp / tt if tt else 1.0
print(json.dumps({"precision": round(p, 5), "recall": round(r, 5),
                  "f1": round(2 * p * r / (p + r) if p + r else 0, 5)}))
PY
}
before=$(score)

export DOVETAIL_KEY_FILE=$S.key
"$DT" serve --store "$S" --listen 127.0.0.1:0 2>"$T/serve.log" &
PID=$!
i=0
while [ $i -lt 400 ] && ! grep -q "port [0-9]" "$T/serve.log"; do sleep 0.05; i=$((i + 1)); done
URL="http://127.0.0.1:$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$T/serve.log")"
counts=$(python3 - "$URL" "$(cat "$S.reviewer")" "$T/g/truth.csv" "$K" <<'PY'
import csv, json, sys, urllib.request
url, token, truth_path, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
truth = {}
with open(truth_path) as f:
    for r in csv.DictReader(f):
        truth[r["source"] + ":" + r["record_id"]] = r["entity"]
def call(method, path, body=None):
    req = urllib.request.Request(url + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Dovetail-Purpose": "test",
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())
pairs = call("GET", "/v1/review/queue?limit=%d" % k)["pairs"]
same = 0
for p in pairs:
    s = truth.get(p["a"]) is not None and truth.get(p["a"]) == truth.get(p["b"])
    call("POST", "/v1/review/decisions", {"a": p["a"], "b": p["b"], "same": s})
    same += s
print(json.dumps({"labels": len(pairs), "same": same, "different": len(pairs) - same}))
PY
)
kill -TERM $PID
wait $PID 2>/dev/null || true
PID=""
decided=$(score)
DOVETAIL_TOKEN=$(cat "$S.admin") "$DT" train --labels --store "$S" --purpose test 2>"$T/train.log"
relabelled=$(score)
printf '{"people": %s, "queue": %s, "before": %s, "after_decisions": %s, "after_train_labels": %s, "train_log": "%s"}\n' \
    "$PEOPLE" "$counts" "$before" "$decided" "$relabelled" "$(grep -o 'labels: m refitted from [0-9]* pairs' "$T/train.log" | head -n 1)"
