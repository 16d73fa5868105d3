# Shared by the scripts: installing PgBouncer, which the pooler tests
# (crates/db/tests/pgbouncer.rs) start in front of the test server.

pgbouncer_program() {
    command -v pgbouncer 2>/dev/null || { [[ -x /usr/sbin/pgbouncer ]] && echo /usr/sbin/pgbouncer; }
}

ensure_pgbouncer_installed() {
    if pgbouncer_program >/dev/null; then
        return
    fi
    echo "PgBouncer is missing; installing it." >&2
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        fi
    fi
    if command -v apt-get >/dev/null && [[ $(id -u) -eq 0 || -n "$sudo" ]]; then
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq pgbouncer >/dev/null
        # The package starts a system service where there is one; the tests
        # start their own.
        $sudo service pgbouncer stop >/dev/null 2>&1 || true
    elif command -v brew >/dev/null; then
        brew install pgbouncer
    else
        echo "Cannot install PgBouncer here: install it (apt-get install pgbouncer, brew install pgbouncer); the pooler tests need it." >&2
        exit 1
    fi
    pgbouncer_program >/dev/null || { echo "PgBouncer was installed but pgbouncer is still not found." >&2; exit 1; }
}
