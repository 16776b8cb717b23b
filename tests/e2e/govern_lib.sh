# Sourced by the e2e scripts (and bench/crash): governed stores for tests.
# Needs $DT, the dovetail binary.
#
# gv_setup STORE CONFIG [PURPOSE]: creates the store with an admin, a
# steward of every source, an analyst and an auditor, and on each source a
# policy allowing PURPOSE (default: test) with every column and link.
# Tokens go to B.admin, B.steward, B.analyst, B.auditor, where B is
# `gv_base STORE`: GV_FILES when set, else the store's file, or for a
# PostgreSQL URL $T/NAME where NAME is its database. The key file is
# DOVETAIL_KEY_FILE, when unset B.key (then exported, so later commands,
# and later stores, use it).
#
# as ROLE STORE COMMAND ARGS...: runs dovetail COMMAND on STORE with that
# role's token and --purpose test.

gv_base() {
    [ -z "${GV_FILES:-}" ] || { echo "$GV_FILES"; return; }
    case $1 in
    postgres*) _db=${1#*:///}; echo "${T:?gv_base: no T}/${_db%%\?*}" ;;
    *) echo "$1" ;;
    esac
}

gv_sources() { awk '/^sources:/ { s = 1; next } /^[^ #]/ { s = 0 } s && /^  - name:/ { print $3 }' "$1"; }

gv_policy() { # purpose expiry(YYYY-MM-DD) fields link_with
    printf 'purposes:\n  %s:\n    allowed: true\n    agreement: TEST-1\n    expires: %s\n    fields: %s\n    link_with: %s\n' \
        "$1" "$2" "$3" "$4"
}

gv_setup() {
    _store=$1 _cfg=$2 _purpose=${3:-test} _b=$(gv_base "$1")
    export DOVETAIL_KEY_FILE="${DOVETAIL_KEY_FILE:-$_b.key}"
    "$DT" init --store "$_store" --config "$_cfg" >"$_b.admin" 2>/dev/null || return 1
    _srcs=$(gv_sources "$_cfg" | paste -sd, -)
    for _r in steward analyst auditor; do
        DOVETAIL_TOKEN=$(cat "$_b.admin") "$DT" principal add "$_r" --role "$_r" \
            $([ "$_r" = steward ] && echo "--source $_srcs") --store "$_store" --purpose setup \
            >"$_b.$_r" 2>/dev/null || return 1
    done
    gv_policy "$_purpose" "$(date -u -d '+700 days' +%F)" all all >"$_b.policy.yaml"
    for _s in $(gv_sources "$_cfg"); do
        DOVETAIL_TOKEN=$(cat "$_b.steward") "$DT" policy set --source "$_s" --store "$_store" \
            --purpose setup "$_b.policy.yaml" 2>/dev/null || return 1
    done
}

as() {
    _role=$1 _store=$2 _cmd=$3
    shift 3
    DOVETAIL_TOKEN=$(cat "$(gv_base "$_store").$_role") "$DT" "$_cmd" --store "$_store" --purpose test "$@"
}

# A governed store of bench-gen's registries (2,000 people, seed 7) under
# bench/bench.yaml in DIR/s.db (or at STORE, a postgresql:// URL), with a
# reviewer (DIR/s.db.reviewer), every source ingested, a model trained
# and the finding rules run; the data in DIR/g, the tokens and key file
# at DIR/s.db.* either way. Calls bad (lib.sh) for each step that fails.
# Needs DT and GEN.
gv_bench_store() { # DIR [STORE]
    _d=$1 _st=${2:-$1/s.db} _root=$(cd "$(dirname "$0")/../.." && pwd)
    "$GEN" --seed 7 --people 2000 --out "$_d/g" >/dev/null || bad "bench-gen runs"
    sed "s|DATA/|$_d/g/|g" "$_root/bench/bench.yaml" >"$_d/c.yaml"
    GV_FILES=$_d/s.db gv_setup "$_st" "$_d/c.yaml" || bad "store set up"
    DOVETAIL_TOKEN=$(cat "$_d/s.db.admin") "$DT" principal add reviewer --role reviewer \
        --store "$_st" --purpose setup >"$_d/s.db.reviewer" 2>/dev/null || bad "reviewer added"
    for _s in deaths benefits earners health voters payments earnings; do
        GV_FILES=$_d/s.db as steward "$_st" ingest -q --source $_s "$_d/g/$_s.csv" 2>/dev/null ||
            bad "ingest $_s"
    done
    DOVETAIL_TOKEN=$(cat "$_d/s.db.admin") "$DT" train -q --store "$_st" --purpose test \
        2>/dev/null || bad "train"
    GV_FILES=$_d/s.db as analyst "$_st" findings run >/dev/null 2>&1 || bad "findings run"
}
