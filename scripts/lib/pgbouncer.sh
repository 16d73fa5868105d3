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

# PgBouncer keeps prepared statements working in transaction mode from 1.21
# on (max_prepared_statements); Debian 12 ships 1.18. So that the pooler
# tests run every DAO through transaction mode on a PgBouncer that can,
# where the installed one is older this builds the version Debian 13 ships
# from Debian's own source tarball (its checksum is the one in Debian's
# Sources index) into the system temp folder, where the `postgres` user the
# tests run it as can reach it, and points the tests at it (MV_PGBOUNCER).
# Where it cannot be built (no network, no compiler), the tests use the
# installed one, and check instead that it refuses the setting.
PGBOUNCER_SOURCE_VERSION=1.24.1
PGBOUNCER_SOURCE_SHA256=da72a3aba13072876d055a3e58dd4aba4a5de4ed6148e73033185245598fd3e0
PGBOUNCER_SOURCE_URL=http://deb.debian.org/debian/pool/main/p/pgbouncer/pgbouncer_${PGBOUNCER_SOURCE_VERSION}.orig.tar.gz

# pgbouncer_tracks_prepared_statements PROGRAM: whether it is 1.21 or newer.
pgbouncer_tracks_prepared_statements() {
    local major minor
    read -r major minor < <("$1" --version 2>/dev/null |
        sed -n '1s/^PgBouncer \([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p')
    [[ -n "${major:-}" ]] && ((major > 1 || (major == 1 && minor >= 21)))
}

ensure_pgbouncer_with_prepared_statements() {
    local installed prefix
    installed=$(pgbouncer_program) || return 0
    if pgbouncer_tracks_prepared_statements "$installed"; then
        return
    fi
    prefix="${TMPDIR:-/tmp}/mv-pgbouncer-$PGBOUNCER_SOURCE_VERSION"
    if ! pgbouncer_tracks_prepared_statements "$prefix/bin/pgbouncer"; then
        echo "$("$installed" --version | head -n 1) cannot keep prepared statements in transaction mode; building PgBouncer $PGBOUNCER_SOURCE_VERSION from Debian's source for the pooler tests." >&2
        if ! build_pgbouncer "$prefix"; then
            echo "warning: PgBouncer $PGBOUNCER_SOURCE_VERSION could not be built; the pooler tests use the installed one." >&2
            return 0
        fi
    fi
    export MV_PGBOUNCER="$prefix/bin/pgbouncer"
}

# build_pgbouncer PREFIX: downloads, checks, builds and installs it there.
build_pgbouncer() {
    local prefix=$1 work status=0
    command -v curl >/dev/null || apt_install curl || return 1
    if ! command -v make >/dev/null || ! pkg-config --exists libevent openssl 2>/dev/null; then
        apt_install make gcc pkg-config libevent-dev libssl-dev || return 1
    fi
    work=$(mktemp -d)
    (
        cd "$work" &&
            curl -fsSL -o source.tar.gz "$PGBOUNCER_SOURCE_URL" &&
            echo "$PGBOUNCER_SOURCE_SHA256  source.tar.gz" | sha256sum -c --quiet - &&
            tar -xzf source.tar.gz &&
            cd "pgbouncer-$PGBOUNCER_SOURCE_VERSION" &&
            ./configure --prefix="$prefix" --without-cares --without-systemd >"$work/build.log" 2>&1 &&
            make -j"$(nproc)" >>"$work/build.log" 2>&1 &&
            make install >>"$work/build.log" 2>&1
    ) || {
        status=$?
        tail -n 20 "$work/build.log" >&2 2>/dev/null || true
    }
    rm -rf "$work"
    return "$status"
}
