#!/usr/bin/env bash
# Dump and restore of the benchmark dataset: `mv-admin db dump` and
# `db restore` against plain `pg_dump -Fd -j N` and `pg_restore -j N` run by
# hand, on the same server, alternating A B A B (a benchmark, not a test).
#
#   scripts/bench-backup.sh
#
# Prints one JSON line per run on stdout and the ratios at the end. Settings,
# from the environment: DATABASE_URL (default: database
# mindvault_bench_<users>_<videos> on the local server, created and loaded when
# missing), BENCH_USERS (10000), BENCH_VIDEOS (1000000), BENCH_JOBS (2),
# BENCH_ROUNDS (2), BENCH_DIR (a temporary folder for the dumps).
set -euo pipefail
cd "$(dirname "$0")/.."

users=${BENCH_USERS:-10000}
videos=${BENCH_VIDEOS:-1000000}
jobs=${BENCH_JOBS:-2}
rounds=${BENCH_ROUNDS:-2}

say() { printf '%s\n' "$*" >&2; }

source scripts/lib/bench.sh
use_postgres_programs pg_dump pg_restore psql

cargo build --release --quiet -p mv-admin
mv=$PWD/target/release/mv-admin

use_bench_database "$mv" "$users" "$videos"
admin_url=$(printf '%s' "$DATABASE_URL" | sed -E 's#^(postgres(ql)?://[^/]*/)[^?]*#\1postgres#')
copy_url() { printf '%s' "$DATABASE_URL" | sed -E "s#^(postgres(ql)?://[^/]*/)[^?]*#\\1$1#"; }

say "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "server: $(psql -X -At -d "$DATABASE_URL" -c 'SHOW server_version'); $(pg_dump --version)"
"$mv" migrate >&2
"$mv" seed --users "$users" --videos "$videos" >&2
psql -X -q -d "$DATABASE_URL" -c "VACUUM (ANALYZE)"
say "database size: $(psql -X -At -d "$DATABASE_URL" -c 'SELECT pg_size_pretty(pg_database_size(current_database()))')"

work=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
drop_copy() { psql -X -q -d "$admin_url" -c "DROP DATABASE IF EXISTS bench_backup_copy WITH (FORCE)"; }
trap 'drop_copy; rm -rf "$work"/plain "$work"/mv "$work"/mv.manifest.json' EXIT

now() { date +%s.%N; }
line() { printf '{"impl":"%s","round":%d,"dump_s":%.2f,"restore_s":%.2f,"bytes":%d,"load":"%s"}\n' \
    "$1" "$2" "$3" "$4" "$(du -sb "$5" | cut -f1)" "$(cut -d' ' -f1 /proc/loadavg)"; }

for round in $(seq "$rounds"); do
    rm -rf "$work/plain"; drop_copy
    t0=$(now)
    pg_dump -Fd -j "$jobs" -f "$work/plain" -d "$DATABASE_URL"
    t1=$(now)
    psql -X -q -d "$admin_url" -c "CREATE DATABASE bench_backup_copy TEMPLATE template0"
    pg_restore -j "$jobs" --exit-on-error -d "$(copy_url bench_backup_copy)" "$work/plain"
    t2=$(now)
    line pg_dump "$round" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$work/plain"
    rm -rf "$work/plain"

    rm -rf "$work/mv" "$work/mv.manifest.json"; drop_copy
    t0=$(now)
    "$mv" db dump "$work/mv" --jobs "$jobs" >&2
    t1=$(now)
    "$mv" db restore "$work/mv" --new-database bench_backup_copy --jobs "$jobs" >&2
    t2=$(now)
    line mv-admin "$round" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$work/mv"
    rm -rf "$work/mv" "$work/mv.manifest.json"
done
