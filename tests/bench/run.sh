#!/usr/bin/env bash
# Benchmarks a release pin-server on a fresh database with pin-bench.
#
#   tests/bench/run.sh sqlite|postgres [pin-bench options…]
#
# Builds the release pin-server and pin-bench, writes a server configuration into a
# temporary folder (with the SQLite file there, or a new PostgreSQL database on the local
# server, dropped at the end), starts the server in the background logging at warn, waits
# until it serves, runs pin-bench against it with --server-pid (the report goes to standard
# output; options such as --duration 30s or --json FILE are passed on), and stops it.
#
# Environment (not PIN_*: the server and pin-bench read every PIN_* variable as
# configuration, and so do they here, identically):
#   CARGO_TARGET_DIR     where cargo builds (default: target)
#   BENCH_POSTGRES_URL   the PostgreSQL server to create the database on
#                        (default: postgres://postgres@127.0.0.1:5432/postgres)
#   BENCH_MEMORY_KIB     argon2id memory (default 19456 KiB) and …
#   BENCH_ITERATIONS     … passes (default 2): production cost, which meets the server's
#                        OWASP check; setting either sets hashing.allow_weak
#   BENCH_WORKERS        hashing threads (default: the server's, one per core)
#   BENCH_KEEP=1         keep the temporary folder (configuration, server log)
set -euo pipefail
cd "$(dirname "$0")/../.."

backend="${1:-}"
case "$backend" in
    sqlite | postgres) shift ;;
    *)
        echo "usage: $0 sqlite|postgres [pin-bench options...]" >&2
        exit 2
        ;;
esac

target_dir="${CARGO_TARGET_DIR:-target}"
# A target folder shared between clones keeps pin-proto's generated code from whichever
# clone built last: make its build script run again for this one.
touch crates/pin-proto/build.rs
cargo build --release --locked -p pin-server --bin pin-server -p pin-tests --bin pin-bench

work=$(mktemp -d -t pin-bench.XXXXXX)
# Copies: another clone sharing the target folder may rebuild them while this runs.
cp "$target_dir/release/pin-server" "$target_dir/release/pin-bench" "$work/"

server_pid=""
database=""
admin_url="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -n "$database" ]; then
        psql -q "$admin_url" -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null ||
            echo "run.sh: could not drop the database $database" >&2
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "run.sh: kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

case "$backend" in
    sqlite)
        database_url="sqlite://$work/data/pin.db?mode=rwc"
        ;;
    postgres)
        database="pin_bench_$(date +%s)_$$"
        psql -q "$admin_url" -c "CREATE DATABASE \"$database\"" >/dev/null
        # The same server and credentials, the new database instead of the admin one.
        database_url="${admin_url%/*}/$database"
        ;;
esac

memory_kib="${BENCH_MEMORY_KIB:-19456}"
iterations="${BENCH_ITERATIONS:-2}"
allow_weak=false
if [ -n "${BENCH_MEMORY_KIB:-}${BENCH_ITERATIONS:-}" ]; then
    allow_weak=true
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# No callers: the server creates the development caller, holding every role, and writes
# its token into the data folder (it does so on loopback only). The mailbox worker stays
# off so that PIN halves wait in the outbox, where pin-bench leases them.
{
    echo "listen = \"127.0.0.1:$port\""
    echo "data_dir = \"$work/data\""
    echo "database_url = \"$database_url\""
    echo "[hashing]"
    echo "memory_kib = $memory_kib"
    echo "iterations = $iterations"
    echo "parallelism = 1"
    echo "allow_weak = $allow_weak"
    if [ -n "${BENCH_WORKERS:-}" ]; then echo "workers = $BENCH_WORKERS"; fi
    echo "[mailbox]"
    echo "enabled = false"
    echo "[log]"
    echo "filter = \"warn\""
    echo "[lifecycle]"
    echo "drain = \"0s\""
} >"$work/pin-server.toml"

RUST_LOG=warn "$work/pin-server" --config "$work/pin-server.toml" serve >"$work/server.log" 2>&1 &
server_pid=$!

# The token file is written at start-up, before the server listens; pin-bench then waits
# for the health check to answer SERVING.
for _ in $(seq 1 300); do
    [ -s "$work/data/dev-caller.token" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "run.sh: pin-server exited:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
    sleep 0.2
done

status=0
"$work/pin-bench" --config "$work/pin-server.toml" --token-file "$work/data/dev-caller.token" \
    --server-pid "$server_pid" --wait 60s "$@" || status=$?
if [ -s "$work/server.log" ]; then
    echo "run.sh: the server logged (warn and above):" >&2
    tail -n 20 "$work/server.log" >&2
fi
exit "$status"
