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
