#!/usr/bin/env bash
# The cost and the pace of webhook delivery under journey A, with
# orders-server and orders-loadgen (release builds).
#
#   LOAD_BIN_DIR=/tmp/bin benches/webhooks.sh
#
# For each cycle (WEBHOOK_CYCLES, default 3), each backend and each count of
# webhook endpoints (WEBHOOK_COUNTS, default "0 2"), alternating: a fresh
# database and server (`--allow-private-webhooks`), that many webhooks
# (all events) to a local receiver that answers at once
# (benches/webhook_receiver.py), then journey A at LOAD_CLIENTS clients for
# LOAD_DURATION seconds. Each run prints one row: journeys/s, deliveries
# received during the run (per second), of how many the run's events made
# (counted once the backlog drained) and the ratio of the two (1.0: delivery
# kept up with checkout), the backlog left at its end (from the server's
# /metrics, orders_delivery_backlog), and how long the backlog then took to
# drain (deliveries/s while draining, the load gone).
#
# Environment (all optional): LOAD_BIN_DIR (else builds the release
# binaries), ORDERS_TEST_PG_URL, LOAD_DURATION (10), LOAD_CLIENTS (32),
# LOAD_BACKENDS ("sqlite postgres"), WEBHOOK_COUNTS ("0 2"), WEBHOOK_CYCLES (3).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
PG_BASE="${ORDERS_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DURATION="${LOAD_DURATION:-10}"
CLIENTS="${LOAD_CLIENTS:-32}"
BACKENDS="${LOAD_BACKENDS-sqlite postgres}"
COUNTS="${WEBHOOK_COUNTS:-0 2}"
CYCLES="${WEBHOOK_CYCLES:-3}"
export ORDERS_LOG="${ORDERS_LOG:-warn}"
STAFF_EMAIL="loadgen-staff@example.com"
STAFF_PASSWORD="loadgen-staff-password"

if [[ -n "${LOAD_BIN_DIR:-}" ]]; then
    BIN_DIR="$LOAD_BIN_DIR"
else
    cargo build --release --quiet -p orders-server -p orders-loadgen
    BIN_DIR="$CARGO_TARGET_DIR/release"
fi
SERVER_BIN="$BIN_DIR/orders-server"
LOADGEN_BIN="$BIN_DIR/orders-loadgen"

WORK="$(mktemp -d /tmp/orders-webhooks.XXXXXX)"
SERVER_PID=""
RECEIVER_PID=""
PG_DB=""

stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 300); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

drop_database() {
    if [[ -n "$PG_DB" ]]; then
        psql -q "$PG_BASE" -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
        PG_DB=""
    fi
}

cleanup() {
    stop_server
    drop_database
    if [[ -n "$RECEIVER_PID" ]]; then kill "$RECEIVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 benches/webhook_receiver.py "$WORK/receiver.port" &
RECEIVER_PID=$!
for _ in $(seq 1 50); do [[ -s "$WORK/receiver.port" ]] && break; sleep 0.1; done
RECEIVER="http://127.0.0.1:$(cat "$WORK/receiver.port")"
received() { curl -fsS "$RECEIVER/count"; }

# Registrations all at once may wait to hash (a busy machine hashes slowly).
printf '[auth]\nregistration_queue = 1000\n' >"$WORK/orders.toml"
export ORDERS_CONFIG="$WORK/orders.toml"

start_server() {
    local url="$1" name="$2"
    "$SERVER_BIN" --database-url "$url" create-superuser \
        --email "$STAFF_EMAIL" --password "$STAFF_PASSWORD" >/dev/null
    "$SERVER_BIN" --database-url "$url" serve --demo --bind 127.0.0.1:0 \
        --registrations-per-hour 0 --allow-private-webhooks \
        >"$WORK/$name.out" 2>"$WORK/$name.err" &
    SERVER_PID=$!
    ADDR=""
    for _ in $(seq 1 300); do
        ADDR="$(sed -n 's/^listening on //p' "$WORK/$name.out")"
        [[ -n "$ADDR" ]] && break
        sleep 0.1
    done
    [[ -n "$ADDR" ]] || { cat "$WORK/$name.err" >&2; exit 1; }
}

# The sum of a family's samples in the server's /metrics.
metric_sum() {
    curl -fsS "$ADDR/metrics" | awk -v name="$1" '$1 ~ "^"name"({|$)" { s += $2 } END { print s + 0 }'
}

add_webhooks() {
    local n="$1" token
    [[ "$n" -gt 0 ]] || return 0
    token="$(curl -fsS -H 'content-type: application/json' \
        -d "{\"email\":\"$STAFF_EMAIL\",\"password\":\"$STAFF_PASSWORD\"}" \
        "$ADDR/api/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
    for i in $(seq 1 "$n"); do
        curl -fsS -o /dev/null -H "authorization: Bearer $token" -H 'content-type: application/json' \
            -d "{\"url\":\"$RECEIVER/hook$i\",\"events\":[\"*\"]}" "$ADDR/api/admin/webhooks"
    done
}

ROWS="$WORK/rows"
: >"$ROWS"
run() {
    local backend="$1" url="$2" hooks="$3"
    start_server "$url" "$backend-$hooks"
    add_webhooks "$hooks"
    local before after backlog drained start end
    before="$(received)"
    "$LOADGEN_BIN" --url "$ADDR" --server-pid "$SERVER_PID" \
        --staff-email "$STAFF_EMAIL" --staff-password "$STAFF_PASSWORD" \
        --label "$backend, $hooks webhooks" a --clients "$CLIENTS" --duration "$DURATION" >"$WORK/last"
    after="$(received)"
    start="$(date +%s.%N)"
    # The worker reads the counts at most once a second.
    sleep 1.2
    backlog="$(metric_sum orders_delivery_backlog)"
    drained=no
    for _ in $(seq 1 1200); do
        [[ "$(metric_sum orders_delivery_backlog)" == 0 ]] && { drained=yes; break; }
        sleep 0.1
    done
    end="$(date +%s.%N)"
    local total row seconds
    total="$(received)"
    seconds="$(echo "$end - $start" | bc)"
    row="$(grep '^ROW|' "$WORK/last" | sed 's/^ROW|/|/')"
    # Made: every delivery the run's events called for (all of them have
    # arrived once the backlog drained); the ratio is delivered ÷ made
    # during the run (1.0: delivery kept up, the backlog did not grow).
    local made="$((total - before))" ratio="-"
    [[ "$made" -gt 0 ]] && ratio="$(echo "scale=2; ($after - $before) / $made" | bc)"
    echo "$row during the run: $((after - before)) deliveries, $(((after - before) / DURATION))/s, of $made made ($((made / DURATION))/s): ${ratio}x; backlog 1.2 s after: $backlog; after the run: $((total - after)) more in ${seconds} s (drained: $drained), $(echo "($total - $after) / $seconds" | bc)/s" | tee -a "$ROWS"
    stop_server
}

for cycle in $(seq 1 "$CYCLES"); do
    for backend in $BACKENDS; do
        for hooks in $COUNTS; do
            echo "-- cycle $cycle, $backend, $hooks webhooks (load average $(cut -d' ' -f1-3 /proc/loadavg))"
            case "$backend" in
            sqlite) run sqlite "sqlite://$WORK/db-$cycle-$hooks.db" "$hooks" ;;
            postgres)
                PG_DB="orders_hooks_$$_$(date +%s)"
                psql -q -v ON_ERROR_STOP=1 "$PG_BASE" -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
                run postgres "${PG_BASE%/*}/$PG_DB" "$hooks"
                drop_database
                ;;
            esac
        done
    done
done

echo
echo "journey A, $CLIENTS clients, ${DURATION} s per run, $(date -u +%Y-%m-%d), $(nproc) CPUs"
cat "$ROWS"
