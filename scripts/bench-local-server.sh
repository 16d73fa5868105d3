#!/usr/bin/env bash
# Times the local server and the test harness; the README records the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -q --release -p local-pg --example local_server_timings
