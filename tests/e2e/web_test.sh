#!/bin/sh
# web_test.sh — the review page (data/web, served by `dovetail serve` at /)
# in Debian's headless Chromium, driven through chromedriver by
# web_driver.py: sign in, the queue, a decision by key that the server
# records, a refused finding step, an accessibility check, a tablet's
# width. Screenshots are kept in build/e2e-artifacts/web (look at them).
# Also: the page's files are the only ones served, with a strict
# Content-Security-Policy.
#
# Usage: web_test.sh DOVETAIL BENCH_GEN
set -u
DT=$1 GEN=$2
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ART=${ARTIFACTS:-$ROOT/build/e2e-artifacts/web}
T=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-web.XXXXXX")
PID="" DPID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; [ -n "$DPID" ] && kill "$DPID" 2>/dev/null; rm -rf "$T"' EXIT
unset DOVETAIL_KEY_FILE
. "$HERE/govern_lib.sh"
. "$HERE/lib.sh"
S=$T/s.db
mkdir -p "$ART"

if ! command -v chromedriver >/dev/null || [ ! -x /usr/bin/chromium ]; then
    bad "chromium and chromedriver are installed (scripts/install-deps)"
    echo "web: $passed passed, $failed failed"
    exit 1
fi

gv_bench_store "$T"

"$DT" serve --store "$S" --listen 127.0.0.1:0 2>"$T/serve.log" &
PID=$!
i=0
while [ $i -lt 400 ] && ! grep -q "port [0-9]" "$T/serve.log" 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
URL="http://127.0.0.1:$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$T/serve.log")"

# the page's three files, and nothing else, whatever the path
curl -s -D "$T/h" -o "$T/index.html" "$URL/" >/dev/null
grep -qi "^content-type: text/html" "$T/h" && grep -qi "^content-security-policy: default-src 'self'" "$T/h" \
    && grep -q '<script src="/web/app.js">' "$T/index.html" \
    && ok "GET /: the page, with a Content-Security-Policy of its own origin only" \
    || bad "GET /" "$(cat "$T/h")"
for p in /web/app.js /web/app.css; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL$p")" = 200 ] || bad "GET $p"
done
bad_paths=0
for p in /web/..%2fs.db /web/../s.db /web/s.db /web/index.html.bak /web/%2e%2e%2fREADME.md; do
    c=$(curl -s --path-as-is -o "$T/x" -w '%{http_code}' "$URL$p")
    [ "$c" = 404 ] || bad_paths=$((bad_paths + 1))
done
[ $bad_paths = 0 ] && ok "any other file under /web/ (../s.db, encoded or not): 404" || bad "web paths" "$bad_paths served"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
chromedriver --port="$PORT" >"$T/driver.log" 2>&1 &
DPID=$!
i=0
while [ $i -lt 200 ] && ! curl -s "http://127.0.0.1:$PORT/status" | grep -q '"ready": *true'; do sleep 0.05; i=$((i + 1)); done
rm -f "$ART"/*.png
# the linkage report of a batch run, opened by the driver after the page
"$DT" link --config "$ROOT/examples/febrl4.yaml" --out "$T/link" --report "$T/link/report.html" -q \
    >/dev/null 2>&1 && [ -s "$T/link/report.html" ] && ok "dovetail link --report writes the report" \
    || bad "link --report"
! grep -q 'rec-[0-9]' "$T/link/report.html" && ok "the report names no record" || bad "report names records"
pc=$("$DT" eval --config "$ROOT/examples/febrl4.yaml" --out "$T/link" 2>/dev/null | awk '/^pair completeness/ { print $3 }')
grep -q "Pair completeness ([^)]*): $pc (" "$T/link/report.html" \
    && ok "the report's pair completeness is eval's ($pc)" \
    || bad "report pair completeness" "$pc $(grep -o 'Pair completeness[^<]*' "$T/link/report.html")"
as analyst "$S" report --out "$T/store-report.html" >/dev/null 2>&1 && [ -s "$T/store-report.html" ] \
    && ok "dovetail report writes a store's report" || bad "dovetail report"
REPORTS="$T/link/report.html $T/store-report.html" python3 "$HERE/web_driver.py" "http://127.0.0.1:$PORT" "$URL/" \
    "$(cat "$S.reviewer")" "$ART" "$(cat "$S.auditor")" >"$T/driver.out" 2>&1
grep -v '^web: \|^decided ' "$T/driver.out"
dp=$(sed -n 's/^web: \([0-9]*\) passed.*/\1/p' "$T/driver.out")
df=$(sed -n 's/^web: [0-9]* passed, \([0-9]*\) failed/\1/p' "$T/driver.out")
passed=$((passed + ${dp:-0}))
failed=$((failed + ${df:-0}))
grep -q '^web: ' "$T/driver.out" || bad "the driver ran to its end" "$(tail -n 5 "$T/driver.out")"

# the decision the page made is on the audit log: each record's disclosures list it
read -r _ DA DB <<EOF2
$(grep '^decided ' "$T/driver.out")
EOF2
n_a=$(DOVETAIL_TOKEN=$(cat "$S.auditor") "$DT" disclosures --record "$DA" --store "$S" --purpose oversight 2>/dev/null | grep -c 'review.decide')
n_b=$(DOVETAIL_TOKEN=$(cat "$S.auditor") "$DT" disclosures --record "$DB" --store "$S" --purpose oversight 2>/dev/null | grep -c 'review.decide')
[ "${n_a:-0}" -ge 1 ] && [ "${n_b:-0}" -ge 1 ] \
    && ok "the page's decision is on the audit log: $DA's and $DB's disclosures list it" \
    || bad "decision disclosures" "$DA=$n_a $DB=$n_b"
# every decision the page made is in the audit log, and the log verifies
n=$(sqlite3 "$S" "SELECT count(*) FROM audit WHERE action = 'review.decide' AND outcome = 'allowed'")
[ "$n" -ge 2 ] && ok "the page's decisions are in the audit log ($n)" || bad "decisions audited" "$n"
kill -TERM "$PID"
wait "$PID" 2>/dev/null
PID=""
DOVETAIL_TOKEN=$(cat "$S.auditor") "$DT" audit verify --store "$S" --purpose oversight >"$T/v" 2>&1 \
    && ok "audit verify passes after the page's session" || bad "verify" "$(cat "$T/v")"
ls "$ART"/*.png >/dev/null 2>&1 && ok "screenshots kept in $ART" || bad "screenshots"
echo "web: $passed passed, $failed failed"
[ "$failed" = 0 ]
