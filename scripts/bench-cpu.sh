#!/usr/bin/env bash
# Client CPU per operation, mv-admin bench against pgbench running the same
# statements: what the data layer costs on the client, counted rather than
# guessed from throughput, which swings with everything else on the machine.
#
#   scripts/bench-cpu.sh [WORKLOAD,...]    (default: every workload)
#
# Each side runs twice, with BENCH_OPS (default 20000) and five times as
# many operations, no warm-up, under /usr/bin/time; the difference of the two
# user + system CPU times over the difference of the operations is the cost
# of one operation, without the start-up, connections and restore. Prints one
# line per workload: mv's and pgbench's microseconds per operation and their
# ratio. The database as scripts/bench.sh uses it (BENCH_USERS, BENCH_VIDEOS,
# DATABASE_URL); clients 8, jobs 2 unless BENCH_CLIENTS, BENCH_JOBS.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/bench.sh
workloads=${1:-$ALL_WORKLOADS}
users=${BENCH_USERS:-1000}
videos=${BENCH_VIDEOS:-100000}
clients=${BENCH_CLIENTS:-8}
jobs=${BENCH_JOBS:-2}
small=${BENCH_OPS:-20000}
large=$((small * 5))
scripts=scripts/bench

say() { printf '%s\n' "$*" >&2; }

use_postgres_programs pgbench psql
[ -x /usr/bin/time ] || { say "bench-cpu.sh needs /usr/bin/time (apt-get install time)"; exit 1; }
prepare_bench_dataset "$users" "$videos"

say "machine: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg); $(git rev-parse --short HEAD)"

# Seconds of user + system CPU the command took.
cpu() { /usr/bin/time -f '%U %S' "$@" 2>&1 >/dev/null | tail -1 | awk '{ printf "%.3f\n", $1 + $2 }'; }
mv_cpu() { cpu "$mv" bench --workload "$1" --clients "$clients" --jobs "$jobs" --ops "$2" --warmup 0; }
pgbench_cpu() {
    cpu pgbench -n -M prepared -c "$clients" -j "$jobs" -t $(($2 / clients)) \
        -f "$scripts/pgbench/$1.sql" -D "users=$users" -D "videos=$videos" "$DATABASE_URL"
    restore_dataset
}
per_op() { awk -v a="$1" -v b="$2" -v n=$((large - small)) 'BEGIN { printf "%.1f\n", (b - a) / n * 1e6 }'; }

printf '%-12s %16s %16s %8s\n' workload "mv µs/op" "pgbench µs/op" ratio
for workload in ${workloads//,/ }; do
    mv_small=$(mv_cpu "$workload" "$small")
    mv_large=$(mv_cpu "$workload" "$large")
    pg_small=$(pgbench_cpu "$workload" "$small")
    pg_large=$(pgbench_cpu "$workload" "$large")
    mv_us=$(per_op "$mv_small" "$mv_large")
    pg_us=$(per_op "$pg_small" "$pg_large")
    printf '%-12s %16s %16s %8s\n' "$workload" "$mv_us" "$pg_us" \
        "$(awk -v a="$mv_us" -v b="$pg_us" 'BEGIN { printf "%.2f", a / b }')"
done
