#!/usr/bin/env bash
# The studio's server time per page on the benchmark dataset (a benchmark,
# not a timed test): every page is requested BENCH_REQUESTS times after one
# warm-up request, and the Server-Timing header the studio sets on every
# response (the time from the request to the response's first byte) is
# summarised as p50, p95 and max in milliseconds.
#
#   scripts/bench-studio.sh
#
# Settings, from the environment: BENCH_USERS (10000), BENCH_VIDEOS
# (1000000), BENCH_REQUESTS (20), BENCH_KEEP (unset: the database is dropped
# at the end; 1 keeps it). Uses the database mindvault_bench_<users>_<videos>
# on the local server (created and seeded when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

users=${BENCH_USERS:-10000}
videos=${BENCH_VIDEOS:-1000000}
requests=${BENCH_REQUESTS:-20}
say() { printf '%s\n' "$*" >&2; }

source scripts/lib/bench.sh
use_postgres_programs psql
command -v curl >/dev/null || { say "bench-studio.sh needs curl"; exit 1; }

cargo build --release --quiet -p mv-admin
mv=target/release/mv-admin
local_url=$("$mv" db url)
name="mindvault_bench_${users}_${videos}"
admin_url=${local_url/\/mindvault\?//postgres?}
url=${local_url/\/mindvault\?//$name?}
if ! psql -X -q -At -d "$admin_url" -c "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
    psql -X -q -d "$admin_url" -c "CREATE DATABASE $name"
fi
work=$(mktemp -d)
studio_pid=""
finish() {
    [ -n "$studio_pid" ] && kill "$studio_pid" 2>/dev/null && wait "$studio_pid" 2>/dev/null
    rm -rf "$work"
    if [ -z "${BENCH_KEEP:-}" ]; then
        psql -X -q -d "$admin_url" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >&2 || true
    fi
}
trap finish EXIT

say "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "server: $(psql -X -At -d "$url" -c 'SHOW server_version')"
"$mv" --database-url "$url" migrate >&2
"$mv" --database-url "$url" seed --users "$users" --videos "$videos" >&2
psql -X -q -d "$url" -c "VACUUM (ANALYZE)"

# Ids to visit: the first user, one of their videos, a keyframe, a tag.
user=$(psql -X -At -d "$url" -c "SELECT id FROM \"user\" ORDER BY id LIMIT 1")
video=$(psql -X -At -d "$url" -c "SELECT id FROM video_summary WHERE user_id = '$user' AND processing_status = 'completed' LIMIT 1")
keyframe=$(psql -X -At -d "$url" -c "SELECT id FROM keyframe WHERE video_summary_id = '$video' LIMIT 1")
tag=$(psql -X -At -d "$url" -c "SELECT tag_id FROM video_summary_tag WHERE video_summary_id = '$video' LIMIT 1")

"$mv" --database-url "$url" studio > "$work/out" 2>&1 &
studio_pid=$!
for _ in $(seq 100); do grep -q '^Open ' "$work/out" && break; sleep 0.1; done
login=$(sed -n 's/^Open //p' "$work/out")
base=${login%%/login*}
curl -s -o /dev/null -c "$work/jar" "$login"

# The second page of a table page starts after the first page's last row.
second_page() {
    curl -s -b "$work/jar" "$base$1" | grep -o 'rel="next" href="[^"]*"' | sed 's/.*href="//; s/"$//; s/&amp;/\&/g'
}

pages=(
    "/"
    "/tables/video_summary"
    "$(second_page /tables/video_summary)"
    "/tables/video_summary?sort=user_id&dir=desc"
    "$(second_page "/tables/video_summary?sort=user_id&dir=desc")"
    "/tables/video_summary?sort=created_at&dir=desc"
    "/tables/video_summary?eq.user_id=$user"
    "/tables/video_summary?eq.user_id=$user&sort=created_at&dir=desc"
    "/tables/keyframe"
    "$(second_page /tables/keyframe)"
    "/tables/video_summary_tag"
    "/tables/user"
    "/tables/user/row?k.id=$user"
    "/tables/video_summary/row?k.id=$video"
    "/tables/keyframe/row?k.id=$keyframe"
    "/tables/tag/row?k.id=$tag"
    "/library"
    "/library/$user"
    "/library/$user?status=completed"
    "/videos/$video"
    "/queue"
    "/schema"
    "/health"
    "/changes"
)
printf '%-60s %6s %8s %8s %8s\n' page status p50_ms p95_ms max_ms
for page in "${pages[@]}"; do
    # The warm-up request gives the page's HTTP status (400: refused).
    status=$(curl -s -o /dev/null -w '%{http_code}' -b "$work/jar" "$base$page")
    for _ in $(seq "$requests"); do
        curl -s -o /dev/null -D - -b "$work/jar" "$base$page" | tr -d '\r' | sed -n 's/^server-timing: app;dur=//p'
    done | sort -n | awk -v page="$page" -v status="$status" '{ t[NR] = $1 } END {
        p50 = t[int((NR + 1) * 0.50)]; p95 = t[int(NR * 0.95 + 0.5)];
        printf "%-60s %6s %8.1f %8.1f %8.1f\n", substr(page, 1, 60), status, p50, p95, t[NR] }'
done
