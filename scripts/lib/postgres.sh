# Shared by the scripts: finding and installing PostgreSQL's server programs.
# The search order is the one mv-admin uses (crates/local-pg/src/programs.rs).

source "$(dirname "${BASH_SOURCE[0]}")/install.sh"

pg_bindir() {
    local dir
    if [[ -n "${MV_PG_BINDIR:-}" ]]; then
        echo "$MV_PG_BINDIR"
        return
    fi
    dir=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
    if [[ -x "$dir/initdb" && -x "$dir/postgres" ]]; then
        echo "$dir"
        return
    fi
    dir=$(pg_config --bindir 2>/dev/null || true)
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then
        echo "$dir"
        return
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r) \
               $(ls -d /opt/homebrew/opt/postgresql@*/bin /usr/local/opt/postgresql@*/bin 2>/dev/null); do
        if [[ -x "$dir/initdb" ]]; then
            echo "$dir"
            return
        fi
    done
    return 1
}

ensure_postgres_installed() {
    if pg_bindir >/dev/null; then
        return
    fi
    echo "PostgreSQL's server programs are missing; installing them." >&2
    system_install postgresql postgresql@17 "PostgreSQL's server programs (or set DATABASE_URL)"
    pg_bindir >/dev/null || { echo "PostgreSQL was installed but initdb is still not found; set MV_PG_BINDIR." >&2; exit 1; }
}
