#!/bin/sh
# Runs the README's command blocks as a new user would, so the README stays
# true: every fenced block opened with ```sh (and not ```sh not-run), in
# order, in one shell (an export in one block holds in the next), from a
# scratch copy of the tree's README and examples/ beside ../shared/data,
# with dovetail on the PATH. Each block passes when all its commands exit 0
# (set -e); the first that fails is shown and the rest are not run. A fenced
# block with no language at all fails: say sh, sh not-run, yaml, text...
# Usage: tests/e2e/readme_test.sh /abs/path/to/dovetail
# Ends with "readme: N passed, N failed".
set -u
DT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-readme.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$HERE/lib.sh"

# The scratch copy: $T/dovetail is the tree, $T/shared/data the data.
mkdir -p "$T/bin" "$T/dovetail" "$T/shared"
ln -s "$DT" "$T/bin/dovetail"
ln -s "$(cd "$ROOT/../shared/data" && pwd)" "$T/shared/data"
cp -R "$ROOT/README.md" "$ROOT/examples" "$T/dovetail/"

# README -> one script: each runnable block, then a line saying it ended.
awk -v script="$T/readme.sh" -v unmarked="$T/unmarked" '
    BEGIN { print "set -e" > script }
    !in_block && /^```/ {
        in_block = 1; info = substr($0, 4); start = NR
        run = (info ~ /^sh( |$)/ && info !~ /not-run/)
        if (info == "") print "README.md:" NR > unmarked
        next
    }
    in_block && /^```[ \t]*$/ {
        in_block = 0
        if (run) { n++; printf "echo \"readme-block %d (README.md:%d) done\"\n", n, start > script }
        next
    }
    in_block && run { print > script }
' "$ROOT/README.md"

if [ -s "$T/unmarked" ]; then
    bad "every fenced block says what it is (sh, sh not-run, yaml...)" "$(tr '\n' ' ' <"$T/unmarked")"
else
    ok "every fenced block says what it is (sh, sh not-run, yaml...)"
fi
n_blocks=$(grep -c '^echo "readme-block' "$T/readme.sh")
[ "$n_blocks" -ge 2 ] && ok "README has $n_blocks runnable blocks" || bad "README has runnable blocks"

(cd "$T/dovetail" && PATH="$T/bin:$PATH" DOVETAIL_TOKEN= sh -x "$T/readme.sh") >"$T/out" 2>&1
rc=$?
i=1
while [ "$i" -le "$n_blocks" ]; do
    where=$(grep -o "readme-block $i (README.md:[0-9]*)" "$T/readme.sh" | head -n 1)
    if grep -q "^$where done\$" "$T/out"; then ok "$where runs"
    else bad "$where runs" "exit $rc; last lines: $(tail -n 8 "$T/out" | tr '\n' '|')"; break; fi
    i=$((i + 1))
done
[ "$rc" -eq 0 ] && ok "the README's commands exit 0" || bad "the README's commands exit 0" "exit $rc"

# make demo's script, as a new checkout runs it: the bundled examples end to end
mkdir -p "$T/dovetail/scripts"
cp "$ROOT/scripts/demo" "$T/dovetail/scripts/"
(cd "$T/dovetail" && sh scripts/demo "$DT") >"$T/demo.out" 2>&1
rc=$?
[ "$rc" -eq 0 ] && grep -q "Why two records linked" "$T/demo.out" && grep -q "^Outputs are in" "$T/demo.out" \
    && [ -s "$T/dovetail/out/demo/registries/report.html" ] \
    && ok "make demo's script runs end to end: FEBRL, the registries, a pair explained, the report" \
    || bad "make demo's script" "exit $rc: $(tail -n 4 "$T/demo.out" | tr '\n' '|')"

echo "readme: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
