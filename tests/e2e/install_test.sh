#!/bin/sh
# make install as a user or a packager would use it: staged with DESTDIR,
# for PREFIX=/usr/local. Checks what lands where (the CLI, the static and
# shared libraries with their SONAME and symlinks, the header, dovetail.pc,
# the nickname table); that a program compiled against the installed header
# through pkg-config links the bundled example through the installed shared
# library; that the installed CLI, run from a copy of the example outside
# the tree, writes what the tree's own CLI writes; that both find the
# nickname table installed beside them (the staged copy: /usr/local has
# none) and never the tree's data/; and that make uninstall removes it all.
# Usage: tests/e2e/install_test.sh /abs/path/to/dovetail (the tree's CLI,
# for comparison). Ends with "install: N passed, N failed".
set -u
DT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/dovetail-install.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$HERE/lib.sh"
S=$T/stage
P=$S/usr/local
# A make inside make check must not inherit its flavour or job server.
unset MAKEFLAGS MFLAGS MAKELEVEL

if make -C "$ROOT" --no-print-directory FLAVOR=release DESTDIR="$S" PREFIX=/usr/local install \
    >"$T/make.log" 2>&1; then ok "make install DESTDIR PREFIX=/usr/local"
else bad "make install DESTDIR PREFIX=/usr/local" "$(tail -n 5 "$T/make.log")"; fi

for f in bin/dovetail lib/libdovetail.a lib/libdovetail.so.0.1.0 include/dovetail.h \
    lib/pkgconfig/dovetail.pc share/dovetail/nicknames.tsv; do
    [ -f "$P/$f" ] && ok "installs $f" || bad "installs $f"
done
[ "$(readlink "$P/lib/libdovetail.so.0")" = libdovetail.so.0.1.0 ] &&
    [ "$(readlink "$P/lib/libdovetail.so")" = libdovetail.so.0 ] &&
    ok "libdovetail.so -> .so.0 -> .so.0.1.0" || bad "libdovetail.so -> .so.0 -> .so.0.1.0" "$(ls -l "$P/lib")"
soname=$(readelf -d "$P/lib/libdovetail.so.0.1.0" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libdovetail.so.0 ] && ok "SONAME is libdovetail.so.0" || bad "SONAME is libdovetail.so.0" "got '$soname'"
# (debug information names the build folder; the data path must not)
if grep -l -F "$ROOT/data" "$P/bin/dovetail" "$P/lib/libdovetail.so.0.1.0" "$P/lib/libdovetail.a" \
    >"$T/named" 2>/dev/null
then bad "installed files do not name the tree's data/" "$(cat "$T/named")"
else ok "installed files do not name the tree's data/"; fi
for f in bin/dovetail lib/libdovetail.so.0.1.0; do
    grep -q -F /usr/local/share/dovetail "$P/$f" && ok "$f reads data from /usr/local/share/dovetail" ||
        bad "$f reads data from /usr/local/share/dovetail"
done

# The example, copied out of the tree; its outputs from the tree's CLI.
cp -R "$ROOT/examples" "$T/ex"
"$DT" link -q --config "$T/ex/registries.yaml" --out "$T/tree" 2>/dev/null

# A program built against the installed header and library, via pkg-config.
cat >"$T/prog.c" <<'PROG'
#include <stdio.h>
#include <dovetail.h>
int main(int argc, char **argv)
{
    dt_config *cfg = NULL;
    dt_error err;
    dt_link_summary s;
    dt_link_options o = {.n_threads = 1, .out_dir = argc > 2 ? argv[2] : "out"};
    if (argc < 3 || dt_config_load(argv[1], &cfg, &err) != DT_OK ||
        dt_link_run(cfg, &o, &s, &err) != DT_OK) {
        fprintf(stderr, "prog: %s\n", argc < 3 ? "usage: prog CONFIG OUT" : err.msg);
        return 1;
    }
    printf("dovetail %s: %llu entities\n", dt_version(), (unsigned long long)s.n_entities);
    dt_config_free(cfg);
    return 0;
}
PROG
export PKG_CONFIG_SYSROOT_DIR="$S" PKG_CONFIG_PATH="$P/lib/pkgconfig"
if flags=$(pkg-config --cflags --libs dovetail 2>"$T/err") &&
    cc -std=c17 -Wall -Werror -o "$T/prog" "$T/prog.c" $flags 2>>"$T/err"; then
    ok "a program compiles against dovetail.pc and dovetail.h"
else bad "a program compiles against dovetail.pc and dovetail.h" "$(cat "$T/err")"; fi
ldd_lib=$(LD_LIBRARY_PATH="$P/lib" ldd "$T/prog" 2>/dev/null | awk '/libdovetail/ { print $3 }')
[ "$ldd_lib" = "$P/lib/libdovetail.so.0" ] && ok "it loads the installed libdovetail.so.0" ||
    bad "it loads the installed libdovetail.so.0" "ldd: '$ldd_lib'"
if (cd "$T" && LD_LIBRARY_PATH="$P/lib" ./prog ex/registries.yaml "$T/prog-out" >"$T/out" 2>&1) &&
    grep -q '^dovetail 0.1.0: [0-9]* entities$' "$T/out"; then
    ok "it links the example (nickname table found through the installed library)"
else bad "it links the example (nickname table found through the installed library)" "$(cat "$T/out")"; fi
cmp -s "$T/tree/entities.csv" "$T/prog-out/entities.csv" && ok "its entities equal the tree CLI's" ||
    bad "its entities equal the tree CLI's"

# The installed CLI, from the copied example, outside the tree.
if (cd "$T/ex" && "$P/bin/dovetail" link -q --config registries.yaml --out "$T/cli-out" 2>"$T/err"); then
    ok "the installed CLI links the copied example"
else bad "the installed CLI links the copied example" "$(cat "$T/err")"; fi
for f in entities.csv review.csv; do
    cmp -s "$T/tree/$f" "$T/cli-out/$f" && ok "installed CLI: $f equals the tree CLI's" ||
        bad "installed CLI: $f equals the tree CLI's"
done
"$P/bin/dovetail" version 2>&1 | grep -q '0\.1\.0' && ok "installed CLI prints its version" ||
    bad "installed CLI prints its version"

# Without the installed table the installed CLI fails, naming where it looked.
mv "$P/share/dovetail/nicknames.tsv" "$T/nicknames.tsv"
(cd "$T/ex" && "$P/bin/dovetail" link -q --config registries.yaml --out "$T/no-table" 2>"$T/err")
rc=$?
[ $rc -eq 1 ] && grep -q '/usr/local/share/dovetail/nicknames.tsv' "$T/err" &&
    ok "without its installed table the CLI fails, naming /usr/local/share/dovetail" ||
    bad "without its installed table the CLI fails, naming /usr/local/share/dovetail" "rc=$rc $(cat "$T/err")"
mv "$T/nicknames.tsv" "$P/share/dovetail/nicknames.tsv"

make -C "$ROOT" --no-print-directory DESTDIR="$S" PREFIX=/usr/local uninstall >"$T/make.log" 2>&1
left=$(find "$S" ! -type d | head -n 5)
[ -z "$left" ] && ok "make uninstall removes every installed file" ||
    bad "make uninstall removes every installed file" "left: $left"

echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
