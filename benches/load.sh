#!/usr/bin/env bash
# HTTP and websocket load test of orders-server, with orders-loadgen.
#
#   benches/load.sh
#
# Builds both release binaries, then:
#   1. SQLite (a fresh temporary file): journeys A, B and reads at 1, 8 and
#      32 concurrent clients, LOAD_DURATION seconds each;
#   2. PostgreSQL (a fresh database, created here and dropped at the end, on
#      the server of ORDERS_TEST_PG_URL): the same;
#   3. a fresh SQLite server with LOAD_SOCKETS idle tracking websockets: its
#      RSS, then the fan-out time of one order change to all of them;
# stops every server with SIGTERM and prints one Markdown table.
#
# Everything runs on this machine, against 127.0.0.1 only.
#
# Environment (all optional):
#   CARGO_TARGET_DIR    where to build (default: ./target)
#   ORDERS_TEST_PG_URL  PostgreSQL to create the database on
#                       (default postgres://postgres@127.0.0.1:5432/postgres)
#   LOAD_DURATION       seconds per run (default 10)
#   LOAD_CLIENTS        client counts (default "1 8 32")
#   LOAD_SCENARIOS      of a, b, reads (default "a b reads")
#   LOAD_BACKENDS       of sqlite, postgres (default "sqlite postgres"; "" for none)
#   LOAD_SOCKETS        websockets to open (default 10000; 0 skips the test)
#   LOAD_FOLLOWERS      when set: this many of the sockets follow one order, the
#                       only one changed, and the rest follow LOAD_WS_ORDERS - 1
#                       other orders and must receive nothing (default: unset,
#                       every socket follows the one order that changes)
#   LOAD_WS_ORDERS      orders the sockets follow (default 1, or 1000 with
#                       LOAD_FOLLOWERS)
#   LOAD_SOURCE_IPS     client source addresses 127.0.0.1 … 127.0.0.N (default:
#                       one per 25,000 sockets, since one address has ~28,000
#                       ephemeral ports towards one server port)
#   LOAD_ROUNDS         order changes timed one after the other on them (1 to 4,
#                       default 3); the row shows the round of median p99
#   LOAD_WAIT           before each run, wait up to this many seconds (default
#                       600) for the machine to be less than LOAD_QUIET_PERCENT
#                       (default 15) busy, measured over 2 s with the server idle
#   ORDERS_LOG          the server's log level (default warn: the per-request
#                       info lines cost the server a few per cent and fill the disk)
#   LOAD_BIN_DIR        run the orders-server and orders-loadgen binaries found
#                       there instead of building them (to compare two builds
#                       in one sitting)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
PG_BASE="${ORDERS_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DURATION="${LOAD_DURATION:-10}"
CLIENTS="${LOAD_CLIENTS:-1 8 32}"
SCENARIOS="${LOAD_SCENARIOS:-a b reads}"
BACKENDS="${LOAD_BACKENDS-sqlite postgres}"
SOCKETS="${LOAD_SOCKETS:-10000}"
FOLLOWERS="${LOAD_FOLLOWERS:-0}"
if [[ "$FOLLOWERS" -gt 0 ]]; then WS_ORDERS="${LOAD_WS_ORDERS:-1000}"; else WS_ORDERS="${LOAD_WS_ORDERS:-1}"; fi
SOURCE_IPS="${LOAD_SOURCE_IPS:-$(((SOCKETS + 24999) / 25000))}"
ROUNDS="${LOAD_ROUNDS:-3}"
export ORDERS_LOG="${ORDERS_LOG:-warn}"
LOAD_WAIT="${LOAD_WAIT:-600}"
QUIET_PERCENT="${LOAD_QUIET_PERCENT:-15}"
STAFF_EMAIL="loadgen-staff@example.com"
STAFF_PASSWORD="loadgen-staff-password"

if [[ -n "${LOAD_BIN_DIR:-}" ]]; then
    echo "== using the binaries in $LOAD_BIN_DIR"
    BIN_DIR="$LOAD_BIN_DIR"
else
    echo "== building release binaries"
    cargo build --release --quiet -p orders-server -p orders-loadgen
    BIN_DIR="$CARGO_TARGET_DIR/release"
fi
SERVER_BIN="$BIN_DIR/orders-server"
LOADGEN_BIN="$BIN_DIR/orders-loadgen"

# Sockets need file descriptors on both sides (the server and the load
# generator each hold one per socket); raise the limit as far as allowed.
# Past the hard limit it takes root: `ulimit -Hn`, /proc/sys/fs/nr_open.
WANT_FILES=$((SOCKETS + 4096 > 65536 ? SOCKETS + 4096 : 65536))
ulimit -n "$WANT_FILES" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "== open files limit: $(ulimit -n) (hard $(ulimit -Hn), fs.nr_open $(cat /proc/sys/fs/nr_open 2>/dev/null || echo ?))"
if [[ "$SOCKETS" -gt 0 && "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt $((SOCKETS + 1100)) ]]; then
    echo "warning: $SOCKETS sockets need an open-files limit of at least $((SOCKETS + 1100)) per process; the server will refuse those past its bound" >&2
fi

WORK="$(mktemp -d /tmp/orders-load.XXXXXX)"
ROWS="$WORK/rows"
: >"$ROWS"
SERVER_PID=""
PG_DB=""

stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        # Graceful shutdown; give up waiting after 30 s.
        for _ in $(seq 1 300); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "warning: server $SERVER_PID still running 30 s after SIGTERM; killing it" >&2
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

cleanup() {
    stop_server
    if [[ -n "$PG_DB" ]]; then
        psql -q "$PG_BASE" -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server URL LOGNAME: a staff account, then `serve --demo` on a free
# port; sets SERVER_PID and ADDR.
start_server() {
    local url="$1" name="$2"
    "$SERVER_BIN" --database-url "$url" create-superuser \
        --email "$STAFF_EMAIL" --password "$STAFF_PASSWORD" >/dev/null
    # Every load client registers from 127.0.0.1: lift the per-address
    # registration limit, which is there for real clients.
    "$SERVER_BIN" --database-url "$url" serve --demo --bind 127.0.0.1:0 \
        --registrations-per-hour 0 \
        >"$WORK/$name.out" 2>"$WORK/$name.err" &
    SERVER_PID=$!
    ADDR=""
    for _ in $(seq 1 300); do
        ADDR="$(sed -n 's/^listening on //p' "$WORK/$name.out")"
        [[ -n "$ADDR" ]] && break
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            cat "$WORK/$name.err" >&2
            echo "error: the server exited before listening" >&2
            exit 1
        fi
        sleep 0.1
    done
    if [[ -z "$ADDR" ]]; then
        echo "error: the server printed no address within 30 s" >&2
        exit 1
    fi
    echo "== $name: orders-server pid $SERVER_PID on $ADDR"
}

# The machine's busy share (percent of all CPUs) over 2 s, servers idle.
busy_percent() {
    local a b
    read -r -a a < <(head -1 /proc/stat)
    sleep 2
    read -r -a b < <(head -1 /proc/stat)
    local total=0 idle=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    idle=$((b[4] - a[4] + b[5] - a[5]))
    echo $(((total - idle) * 100 / (total > 0 ? total : 1)))
}

# Waits (at most LOAD_WAIT seconds) until something else stops using the CPU.
wait_quiet() {
    local waited=0 busy
    while busy="$(busy_percent)"; [[ "$busy" -gt "$QUIET_PERCENT" ]]; do
        if [[ "$waited" -ge "$LOAD_WAIT" ]]; then
            echo "warning: the machine is still ${busy} % busy after ${waited} s; running anyway" >&2
            return
        fi
        echo "   machine ${busy} % busy (load $(cut -d' ' -f1-3 /proc/loadavg)); waiting"
        sleep 10
        waited=$((waited + 12))
    done
}

# SQLite's write batches so far, "batches writes", from the server's
# /metrics (nothing on PostgreSQL, or without curl).
write_batches() {
    command -v curl >/dev/null || return 0
    curl -s "$ADDR/metrics" 2>/dev/null | awk '
        /^orders_db_write_batches_total / { b = $2 }
        /^orders_db_batched_writes_total / { w = $2 }
        END { if (b != "") print b, w }'
}

loadgen() {
    wait_quiet
    local before after
    before="$(write_batches)"
    "$LOADGEN_BIN" --url "$ADDR" --server-pid "$SERVER_PID" \
        --staff-email "$STAFF_EMAIL" --staff-password "$STAFF_PASSWORD" "$@" \
        | tee "$WORK/last"
    grep '^ROW|' "$WORK/last" | sed 's/^ROW|/|/' >>"$ROWS"
    after="$(write_batches)"
    if [[ -n "$before" && -n "$after" ]]; then
        # How many writes queued for SQLite's single writer: near 1, it
        # keeps up; far above, the writes wait for it.
        echo "$before $after" | awk '{ b = $3 - $1; w = $4 - $2;
            if (b > 0) printf "   SQLite writes a batch: %.1f (%d writes in %d batches)\n", w / b, w, b }'
    fi
}

# run_http BACKEND URL
run_http() {
    local backend="$1" url="$2"
    start_server "$url" "$backend"
    for scenario in $SCENARIOS; do
        for clients in $CLIENTS; do
            echo "-- $backend $scenario, $clients clients, ${DURATION} s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
            loadgen --label "$backend" "$scenario" --clients "$clients" --duration "$DURATION"
            sleep 1
        done
    done
    stop_server
}

for backend in $BACKENDS; do
    case "$backend" in
    sqlite)
        run_http sqlite "sqlite://$WORK/http.db"
        ;;
    postgres)
        PG_DB="orders_load_$$_$(date +%s)"
        psql -q -v ON_ERROR_STOP=1 "$PG_BASE" -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
        run_http postgres "${PG_BASE%/*}/$PG_DB"
        psql -q "$PG_BASE" -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null
        PG_DB=""
        ;;
    *)
        echo "error: unknown backend $backend" >&2
        exit 1
        ;;
    esac
done

if [[ "$SOCKETS" -gt 0 ]]; then
    # A fresh server, so that its RSS is that of the sockets, not of earlier runs.
    # The server's connection bound defaults to its open-files limit less
    # a reserve: enough, once the limit is raised above.
    start_server "sqlite://$WORK/ws.db" websockets
    echo "-- sqlite websockets: $SOCKETS, $FOLLOWERS following the changed order, $WS_ORDERS orders, $SOURCE_IPS source addresses (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    loadgen --label sqlite websockets --sockets "$SOCKETS" --rounds "$ROUNDS" \
        --followers "$FOLLOWERS" --orders "$WS_ORDERS" --source-ips "$SOURCE_IPS"
    stop_server
fi

echo
echo "orders-server HTTP load, $(date -u +%Y-%m-%d), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), ${DURATION} s per run"
echo
echo "| backend | scenario | clients | journeys | journeys/s | p50 ms | p99 ms | per request p50/p99 ms | CPU (100 % = 1 core) or memory | errors |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
cat "$ROWS"
