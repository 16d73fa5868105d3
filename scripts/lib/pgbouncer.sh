# Shared by the scripts: installing PgBouncer, which the pooler tests
# (crates/db/tests/pgbouncer.rs) start in front of the test server.

source "$(dirname "${BASH_SOURCE[0]}")/install.sh"

pgbouncer_program() {
    command -v pgbouncer 2>/dev/null || { [[ -x /usr/sbin/pgbouncer ]] && echo /usr/sbin/pgbouncer; }
}

ensure_pgbouncer_installed() {
    if pgbouncer_program >/dev/null; then
        return
    fi
    echo "PgBouncer is missing; installing it." >&2
    system_install pgbouncer pgbouncer "PgBouncer (the pooler tests need it)"
    # The package starts a system service where there is one; the tests
    # start their own.
    service pgbouncer stop >/dev/null 2>&1 || true
    pgbouncer_program >/dev/null || { echo "PgBouncer was installed but pgbouncer is still not found." >&2; exit 1; }
}
