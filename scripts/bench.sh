#!/usr/bin/env bash
# The data layer against PostgreSQL's own ceiling on the same server, in one
# run: for each workload, pgbench running the very statements the DAOs send
# (scripts/bench/pgbench/), `mv-admin bench` (a pooled connection per
# client), `mv-admin bench --instrumented` (tracing and metrics on, exported
# nowhere) and `mv-admin bench --shared-connections=N` (each thread's clients
# sharing N connections, their calls pipelined), pgbench first and the
# three others in a rotating order.
#
#   scripts/bench.sh [WORKLOAD,...]
#
# (default: every workload, get,list,create,status,page,list_tag,list_status,save)
#
# Prints every SPEC JSON line on stdout, then per workload the median ratio
# mv/pgbench of ops/s and of p99 (and, for list, mv's list against pgbench
# running the design document's original query), the same for mv+shared, and
# mv+obs/mv: what the instrumentation costs. Settings, from the
# environment: DATABASE_URL (default: database mindvault_bench_<users>_<videos>
# on the local server, created when missing), BENCH_USERS (1000),
# BENCH_VIDEOS (100000), BENCH_CLIENTS (8), BENCH_JOBS (2: threads, for both
# pgbench and mv-admin), BENCH_OPS (20000), BENCH_WARMUP (1000), BENCH_ROUNDS (3),
# BENCH_SHARED (1: the N above).
# mv-admin is built in release mode where cargo builds (CARGO_TARGET_DIR too).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/bench.sh
workloads=${1:-$ALL_WORKLOADS}
users=${BENCH_USERS:-1000}
videos=${BENCH_VIDEOS:-100000}
clients=${BENCH_CLIENTS:-8}
jobs=${BENCH_JOBS:-2}
ops=${BENCH_OPS:-20000}
warmup=${BENCH_WARMUP:-1000}
rounds=${BENCH_ROUNDS:-3}
shared=${BENCH_SHARED:-1}
scripts=scripts/bench

say() { printf '%s\n' "$*" >&2; }

use_postgres_programs pgbench psql
prepare_bench_dataset "$users" "$videos"
# Set the visibility map and hint bits now, so no autovacuum of the fresh
# rows runs during the measurements.
psql -X -q -d "$DATABASE_URL" -c "VACUUM (ANALYZE)"
say "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "server: $(psql -X -At -d "$DATABASE_URL" -c 'SHOW server_version')"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Runs one pgbench script and prints its SPEC line. Latencies come from the
# per-transaction log, percentiles by nearest rank as mv-admin bench takes them.
pgbench_line() {
    local script=$1 per_client=$((ops / clients)) out=$work/out
    local args=(-n -M prepared -c "$clients" -j "$jobs" -f "$scripts/pgbench/$script.sql"
        -D "users=$users" -D "videos=$videos")
    if [ "$warmup" -gt 0 ]; then
        pgbench "${args[@]}" -t $(((warmup + clients - 1) / clients)) "$DATABASE_URL" >"$out" 2>&1 ||
            { cat "$out" >&2; exit 1; }
    fi
    rm -f "$work"/log*
    pgbench "${args[@]}" -t "$per_client" -l --log-prefix="$work/log" "$DATABASE_URL" >"$out" 2>&1 ||
        { cat "$out" >&2; exit 1; }
    local tps n p50 p99
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out")
    cat "$work"/log* | awk '{print $3}' | sort -n >"$work/latencies"
    n=$(wc -l <"$work/latencies")
    p50=$(sed -n "$(((n * 50 + 99) / 100))p" "$work/latencies")
    p99=$(sed -n "$(((n * 99 + 99) / 100))p" "$work/latencies")
    awk -v w="$script" -v c="$clients" -v n="$n" -v tps="$tps" -v p50="$p50" -v p99="$p99" 'BEGIN {
        printf "{\"impl\":\"pgbench\",\"workload\":\"%s\",\"clients\":%d,\"ops\":%d,\"seconds\":%.3f,\"ops_per_s\":%.1f,\"p50_us\":%d,\"p99_us\":%d}\n",
            w, c, n, n / tps, tps, p50, p99 }'
}

# Keeps each line, and prints it.
record() { tee -a "$work/lines"; }

for workload in ${workloads//,/ }; do
    for round in $(seq "$rounds"); do
        say "$workload: round $round of $rounds"
        pgbench_line "$workload" | record
        restore_dataset
        # The variants take turns at going first, so that none gains from
        # always running on a server another has just warmed.
        variants=("" --instrumented "--shared-connections=$shared")
        for ((i = 0; i < round % 3; i++)); do variants=("${variants[@]:1}" "${variants[0]}"); done
        for variant in "${variants[@]}"; do
            "$mv" bench ${variant:+"$variant"} --workload "$workload" --clients "$clients" --jobs "$jobs" \
                --ops "$ops" --warmup "$warmup" | record
        done
        if [ "$workload" = list ]; then
            pgbench_line list_original | record
        fi
    done
done

scripts/bench-summary.sh "$workloads" <"$work/lines"
