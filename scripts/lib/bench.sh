# Shared by the benchmark scripts: the benchmark database.

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
