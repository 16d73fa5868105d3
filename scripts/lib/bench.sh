# Shared by the benchmark scripts: PostgreSQL's client programs and the
# benchmark database.

# Every workload of `mv-admin bench`, in its order.
ALL_WORKLOADS=get,list,create,status,page,list_tag,list_status,save

# Puts on the PATH the folder of PostgreSQL's programs (MV_PG_BINDIR, the
# server's, else the newest installed) that has every program named, and
# fails with what is missing and how to install it.
use_postgres_programs() {
    local dir program
    for dir in ${MV_PG_BINDIR:-} $(pg_config --bindir 2>/dev/null || true) /usr/lib/postgresql/*/bin; do
        for program in "$@"; do [ -x "$dir/$program" ] || continue 2; done
        PATH="$dir:$PATH"
        break
    done
    for program in "$@"; do
        command -v "$program" >/dev/null ||
            { printf '%s needs %s (apt-get install postgresql-client)\n' "$(basename "$0")" "$*" >&2; exit 1; }
    done
}

# Exports DATABASE_URL as the database mindvault_bench_<users>_<videos> on
# the local server (started when needed, the database created when
# missing), unless DATABASE_URL is already set. Needs psql.
use_bench_database() {
    local mv=$1 users=$2 videos=$3 local_url name admin_url
    [ -n "${DATABASE_URL:-}" ] && return
    local_url=$("$mv" db url) # starts the local server when needed
    name="mindvault_bench_${users}_${videos}"
    admin_url=${local_url/\/mindvault\?//postgres?}
    if ! psql -X -q -At -d "$admin_url" -c "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
        psql -X -q -d "$admin_url" -c "CREATE DATABASE $name"
    fi
    export DATABASE_URL=${local_url/\/mindvault\?//$name?}
}

# Builds the release mv-admin (its path in $mv) and makes the benchmark
# database ready: migrated, the dataset of <users> and <videos> loaded when
# absent, as loaded (restore.sql), and vacuumed. Needs psql.
prepare_bench_dataset() {
    local users=$1 videos=$2
    cargo build --release --quiet -p mv-admin
    source scripts/lib/cargo.sh
    mv=$(cargo_target_dir)/release/mv-admin
    use_bench_database "$mv" "$users" "$videos"
    "$mv" migrate >&2
    "$mv" seed --users "$users" --videos "$videos" >&2
    restore_dataset
    # Every restore deletes and inserts again the videos a run moved, and
    # their links: without a vacuum the dead rows and index entries of
    # earlier runs pile up between autovacuum's passes, and a run measures
    # the history of the database as much as the code. pgbench vacuums its
    # own tables before a run for the same reason.
    psql -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" \
        -c 'VACUUM (ANALYZE) video_summary, video_summary_tag, video_summary_category, keyframe, tag, category, "user"'
}

# Puts back what a writing workload changed (scripts/bench/restore.sql).
restore_dataset() {
    psql -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f scripts/bench/restore.sql >/dev/null
}
