# Sourced by the e2e scripts: pass/fail counting and entity partitions.
passed=0
failed=0
ok() { passed=$((passed + 1)); printf 'ok    %s\n' "$1"; }
bad() { failed=$((failed + 1)); printf 'FAIL  %s\n' "$1"; [ -n "${2:-}" ] && printf '      %s\n' "$2"; }
# partition ENTITIES.csv: each entity as its sorted "source:id" members on a
# line, lines sorted, so two runs compare whatever their entity ids.
partition() {
    tail -n +2 "$1" | awk -F, '{ print $3 "\t" $1 ":" $2 }' | sort |
        awk -F'\t' '$1 != e { if (NR > 1) print m; e = $1; m = $2; next } { m = m " " $2 }
                    END { if (NR) print m }' | sort
}

# ---- backends: one suite, run on each store backend --------------------------
# DT_BACKEND=sqlite (the default) or pg. On pg, be_start starts a private
# PostgreSQL 15 (tests/pg-server: a Unix socket, no password) and each store
# is a database of it; be_stop, in the suite's EXIT trap, stops it. Needs
# $T (the suite's temporary directory) and $ROOT.
#   new_store NAME     prints the --store value of a new store NAME ($T/NAME.db,
#                      or database NAME created empty)
#   sql STORE QUERY    runs QUERY on the store's tables: a row a line, columns
#                      separated by |; write portable SQL (no group_concat, no
#                      PRAGMA): sort or join in the shell
#   be_copy STORE NAME copies a store no process holds open to a new store NAME,
#                      printing its --store value
#   be_is_pg           true on the PostgreSQL backend
#   be_name            "sqlite" or "pg", for the suite's summary line
BACKEND=${DT_BACKEND:-sqlite}
be_is_pg() { [ "$BACKEND" = pg ]; }
be_name() { echo "$BACKEND"; }
be_start() {
    be_is_pg || return 0
    PGD=$(mktemp -d -u /tmp/dovetail-pgsrv.XXXXXX)
    SRV=$("$ROOT/tests/pg-server" start "$PGD") || { echo "FAIL  PostgreSQL starts"; return 1; }
}
be_stop() { [ -z "${PGD:-}" ] || "$ROOT/tests/pg-server" stop "$PGD"; }
be_url() { echo "$SRV" | sed "s|:///postgres?|:///$1?|"; }
new_store() {
    if be_is_pg; then
        psql -q "$SRV" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1" \
            -c "CREATE DATABASE $1" >/dev/null || return 1
        be_url "$1"
    else
        rm -f "$T/$1.db" "$T/$1.db-wal" "$T/$1.db-shm"
        echo "$T/$1.db"
    fi
}
sql() {
    case $1 in
    postgres*) psql -tAq -v ON_ERROR_STOP=1 "$1" -c "$2" ;;
    *) sqlite3 "$1" "$2" ;;
    esac
}
be_copy() {
    if be_is_pg; then
        _from=${1#*:///}
        psql -q "$SRV" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $2" \
            -c "CREATE DATABASE $2 TEMPLATE ${_from%%\?*}" \
            >/dev/null || return 1
        be_url "$2"
    else
        sqlite3 "$1" ".backup '$T/$2.db'" && echo "$T/$2.db"
    fi
}
