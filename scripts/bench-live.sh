#!/usr/bin/env bash
# How long a schema change blocks the application. A reader and a writer
# (pgbench, one client each, running the statements the data layer sends:
# scripts/bench/pgbench/get.sql and scripts/bench/live/touch.sql) run
# against the benchmark dataset for as long as the change runs; this prints
# one JSON line: the change's time, and per side the transactions run, the
# p99 and the longest single wait.
#
#   scripts/bench-live.sh [SCENARIO]
#
# Scenarios:
#   pipeline      (default) every migration after the baseline 000001 (the
#                 pipeline's 000002-000006 and those after it), applied by
#                 `mv-admin migrate` to the dataset reverted to 000001.
#   newest        the newest migration alone, reverted and applied again.
#   links         the migrations that give the link tables their user_id
#                 (2026-12-01-000001 to 000005), reverted and applied again.
#   adopt         `mv-admin adopt` (live) on the TypeScript app's database:
#                 drizzle-kit's schema (fixtures/drizzle/schema-dump.sql)
#                 holding the benchmark dataset (scripts/bench/dataset.sql,
#                 whose columns drizzle's tables have too) and one session
#                 and one account per user.
#   adopt-window  the same with `mv-admin adopt --window`.
#
# Settings, from the environment: DATABASE_URL (pipeline and newest; default:
# database mindvault_bench_<users>_<videos> on the local server, created
# when missing), BENCH_USERS (10000), BENCH_VIDEOS (1000000), MV_ADMIN (an
# mv-admin binary to use instead of building one in release mode). The adopt
# scenarios make database mindvault_adopt_<users>_<videos> afresh on the
# local server for every run. A benchmark, not a test: its figures go to
# BENCHMARKS.md with the command.
set -euo pipefail
cd "$(dirname "$0")/.."

scenario=${1:-pipeline}
users=${BENCH_USERS:-10000}
videos=${BENCH_VIDEOS:-1000000}
scripts=scripts/bench

say() { printf '%s\n' "$*" >&2; }

source scripts/lib/bench.sh
use_postgres_programs pgbench psql

if [ -n "${MV_ADMIN:-}" ]; then
    mv=$MV_ADMIN
else
    cargo build --release --quiet -p mv-admin
    mv=${CARGO_TARGET_DIR:-target}/release/mv-admin
fi

case "$scenario" in
adopt | adopt-window)
    local_url=$("$mv" db url) # starts the local server when needed
    name="mindvault_adopt_${users}_${videos}"
    admin_url=${local_url/\/mindvault\?//postgres?}
    psql -X -q -d "$admin_url" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
    export DATABASE_URL=${local_url/\/mindvault\?//$name?}
    ;;
*)
    if [ -z "${DATABASE_URL:-}" ]; then
        local_url=$("$mv" db url) # starts the local server when needed
        name="mindvault_bench_${users}_${videos}"
        admin_url=${local_url/\/mindvault\?//postgres?}
        if ! psql -X -q -At -d "$admin_url" -c "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
            psql -X -q -d "$admin_url" -c "CREATE DATABASE $name"
        fi
        export DATABASE_URL=${local_url/\/mindvault\?//$name?}
    fi
    ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# How pgbench sends the statements: prepared, as the data layer does; the
# adopt scenarios send unnamed statements, as the TypeScript app's driver
# does (a prepared SELECT would fail once adopt changes its result types:
# "cached plan must not change result type").
protocol=prepared

# Runs one side (a pgbench script, one client) in one-second rounds until
# $work/done exists. pgbench finishes the transaction in flight at the end
# of a round, so a wait that spans rounds is logged whole.
side() { # name script
    local name=$1 script=$2 round=0
    while [ ! -e "$work/done" ]; do
        round=$((round + 1))
        pgbench -n -M "$protocol" -c 1 -T 1 -f "$script" -D "users=$users" -D "videos=$videos" \
            -l --log-prefix="$work/$name.$round" "$DATABASE_URL" >"$work/$name.out" 2>&1 ||
            { cat "$work/$name.out" >&2; exit 1; }
    done
}

# The latencies of one side: count, p99 and max in milliseconds.
summary() { # name
    cat "$work/$1".*.* 2>/dev/null | awk '{print $3}' | sort -n >"$work/$1.latencies"
    local n p99 max
    n=$(wc -l <"$work/$1.latencies")
    p99=$(sed -n "$(((n * 99 + 99) / 100))p" "$work/$1.latencies")
    max=$(tail -n 1 "$work/$1.latencies")
    awk -v name="$1" -v n="$n" -v p99="${p99:-0}" -v max="${max:-0}" 'BEGIN {
        printf "\"%s\":{\"transactions\":%d,\"p99_ms\":%.1f,\"max_wait_ms\":%.1f}", name, n, p99 / 1000, max / 1000 }'
}

# Runs the command while the reader and the writer run; prints the line.
measure() { # scenario command...
    local scenario=$1
    shift
    rm -f "$work"/done "$work"/reader.* "$work"/writer.* "$work"/linker.*
    side reader "$scripts/pgbench/get.sql" &
    local reader=$!
    side writer "$scripts/live/touch.sql" &
    local writer=$!
    side linker "$scripts/live/link.sql" &
    local linker=$!
    sleep 2 # every client running before the change starts
    local started ended
    started=$(date +%s.%N)
    "$@" >&2
    ended=$(date +%s.%N)
    sleep 1
    touch "$work/done"
    wait "$reader" "$writer" "$linker"
    printf '{"scenario":"%s","videos":%d,"seconds":%s,%s,%s,%s}\n' "$scenario" "$videos" \
        "$(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.2f", b - a }')" \
        "$(summary reader)" "$(summary writer)" "$(summary linker)"
}

say "machine: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "server: $(psql -X -At -d "$DATABASE_URL" -c 'SHOW server_version')"
# The dataset at every migration, then the newest STEPS reverted (dropping
# what they added) and applied again while the application runs.
reapply() { # scenario steps
    "$mv" migrate >&2
    "$mv" seed --users "$users" --videos "$videos" >&2
    "$mv" migrate revert --steps "$2" --accept-data-loss >&2
    psql -X -q -d "$DATABASE_URL" -c "VACUUM (ANALYZE) video_summary"
    measure "$1" "$mv" migrate
}

case "$scenario" in
pipeline)
    migrations=(migrations/*/)
    reapply pipeline $((${#migrations[@]} - 1))
    ;;
newest)
    reapply newest 1
    ;;
links)
    reapply links 5
    ;;
adopt | adopt-window)
    protocol=extended
    say "loading drizzle-kit's schema and the dataset ($users users, $videos videos)"
    psql -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f fixtures/drizzle/schema-dump.sql >/dev/null
    psql -X -q -v ON_ERROR_STOP=1 -v users="$users" -v videos="$videos" -d "$DATABASE_URL" \
        -f "$scripts/dataset.sql"
    psql -X -q -v ON_ERROR_STOP=1 -v users="$users" -d "$DATABASE_URL" -f "$scripts/live/auth-rows.sql"
    psql -X -q -d "$DATABASE_URL" -c "VACUUM (ANALYZE)"
    flags=(--backup-elsewhere "the benchmark's database, made afresh by scripts/bench-live.sh"
        --rollback-file "$work/rollback.sql")
    if [ "$scenario" = adopt-window ]; then flags+=(--window); fi
    measure "$scenario" "$mv" adopt "${flags[@]}"
    ;;
*)
    say "unknown scenario $scenario (expected: pipeline, newest, links, adopt, adopt-window)"
    exit 2
    ;;
esac
