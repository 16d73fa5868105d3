#!/usr/bin/env bash
# The whole test suite, against a real PostgreSQL.
#
# With DATABASE_URL set, tests create their databases on that server.
# Otherwise they share a cluster of their own in the system temp folder
# (MV_TEST_PG_DIR moves it), created and started on first use. When
# PostgreSQL's server programs are missing, this installs them with the
# system's package manager where it can, PgBouncer, which the pooler tests
# start in front of the test server (built from Debian's source in version
# 1.24.1 where the installed one is older than 1.21), and Chromium and
# chromedriver for the studio's browser tests.
#
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh -p db`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh
source scripts/lib/pgbouncer.sh
source scripts/lib/chromium.sh

if [[ -z "${DATABASE_URL:-}" ]]; then
    ensure_postgres_installed
fi
ensure_pgbouncer_installed
ensure_pgbouncer_with_prepared_statements
ensure_chromium_installed

cargo test --workspace "$@"
