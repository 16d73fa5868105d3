#!/usr/bin/env bash
# The ratios of a benchmark run from its JSON lines (what scripts/bench.sh
# prints at its end, and can be run again on lines kept, for example those
# in BENCHMARKS.md):
#
#   scripts/bench-summary.sh [WORKLOAD,...] < LINES
#
# Lines that are not JSON objects are skipped, and leading blanks removed.
# Without WORKLOADS, every workload the lines hold, in their order.
set -euo pipefail

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed -n 's/^[[:space:]]*\({.*}\)[[:space:]]*$/\1/p' >"$work/lines"
if [ ! -s "$work/lines" ]; then
    echo "bench-summary.sh: no benchmark lines (JSON objects) on standard input" >&2
    exit 2
fi
workloads=${1:-$(sed -n 's/.*"workload":"\([a-z_]*\)".*/\1/p' "$work/lines" |
    grep -vx list_original | awk '!seen[$0]++' | paste -sd,)}

# The median over the rounds of mv/pgbench, for ops/s and p99: pairs are
# taken in order, round by round. Beside the median of ops/s, its 95 %
# confidence interval from the order statistics (distribution-free: the
# ranks r and n - r + 1 with P(Bin(n, 1/2) < r) <= 2.5 %), so a run says
# whether a target is met or only within this machine's noise; it needs
# at least six rounds ("-" below that).
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
interval() {
    sort -g | awk '{ v[NR] = $1 } END {
        n = NR; p = 0.5 ^ n; below = p
        if (n < 6) { print "-"; exit }
        for (r = 1; ; r++) { p = p * (n - r + 1) / r; if (below + p > 0.025) break; below += p }
        print v[r] "-" v[n - r + 1] }'
}
ratios() { # impl-a workload-a impl-b workload-b field
    paste <(grep "\"impl\":\"$1\",\"workload\":\"$2\"" "$work/lines" | field "$5") \
        <(grep "\"impl\":\"$3\",\"workload\":\"$4\"" "$work/lines" | field "$5") |
        awk '$2 > 0 { printf "%.3f\n", $1 / $2 }'
}
# Every workload's rounds together: a small, uniform cost (the
# instrumentation's) is narrowed down by all the rounds of the run.
pooled() { # impl-a impl-b field
    for workload in ${workloads//,/ }; do ratios "$1" "$workload" "$2" "$workload" "$3"; done
}
row() { # label command args...: the command prints one ratio per round of the field given last
    local label=$1
    shift
    printf '%-28s %14s %16s %14s\n' "$label" "$("$@" ops_per_s | median)" \
        "$("$@" ops_per_s | interval)" "$("$@" p99_us | median)"
}
# One table: impl-a against impl-b, per workload and for all of them.
table() { # impl-a impl-b
    echo
    printf '%-28s %14s %16s %14s\n' "median ratio ($1/$2)" "ops/s" "95% CI" "p99"
    for workload in ${workloads//,/ }; do
        row "$workload" ratios "$1" "$workload" "$2" "$workload"
        if [ "$1/$2" = mv/pgbench ] && [ "$workload" = list ]; then
            row "list vs original query" ratios mv list pgbench list_original
        fi
    done
    row "every workload" pooled "$1" "$2"
}
table mv pgbench
if grep -q '"impl":"mv+shared"' "$work/lines"; then table mv+shared pgbench; fi
table mv+obs mv
