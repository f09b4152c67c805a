#!/usr/bin/env bash
# Checkout throughput of orders-sqlx against the database's own limit.
#
#   benches/sqlx-checkout.sh [CHECKOUTS]        (from the repository root)
#
# 1. Builds the `checkout_throughput` example in release.
# 2. Measures PostgreSQL's own limit on the same server: `pgbench -i -s 10`
#    on a throwaway database, then `pgbench -N -j 2 -T 10` at 8 and 32
#    clients (one checkout is about one such transaction). The database is
#    dropped afterwards, also when the script fails.
# 3. Runs the example: CHECKOUTS (default 2000) checkouts of prepared
#    3-line carts through the `Orders` facade at 8 and 32 concurrent tasks,
#    on SQLite (a temporary file) and on PostgreSQL (a fresh database the
#    example creates and drops).
# 4. Prints one table: backend, tasks, checkouts/s, p50, p99, and the ratio
#    of checkouts/s to pgbench's TPS at the same client count.
#
# SQLX_CHECKOUT_BIN: run this prebuilt `checkout_throughput` instead of
# building one (to compare two builds in one sitting, alternating).
# SQLX_CHECKOUT_PGBENCH=0 skips pgbench (its ratio column is then "—").
#
# PostgreSQL: ORDERS_TEST_PG_URL (default
# postgres://postgres@127.0.0.1:5432/postgres), the database the scratch
# databases are created from. Needs `pgbench` and `psql` (postgresql-client).
# Honours CARGO_TARGET_DIR. Run it on an otherwise quiet machine: the
# benchmark, the database and everything else share its cores.
set -euo pipefail

checkouts="${1:-2000}"
pg_url="${ORDERS_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
target_dir="${CARGO_TARGET_DIR:-target}"

for tool in cargo pgbench psql; do
    if ! command -v "$tool" >/dev/null; then
        echo "sqlx-checkout: '$tool' not found (pgbench and psql ship with postgresql-client)" >&2
        exit 1
    fi
done
if [[ ! -f orders-sqlx/Cargo.toml ]]; then
    echo "sqlx-checkout: run me from the repository root" >&2
    exit 1
fi

# `pg_url` with its database replaced by $1 (keeps a `?query`).
with_database() {
    local base="${pg_url%%\?*}" query=""
    [[ "$pg_url" == *\?* ]] && query="?${pg_url#*\?}"
    local rest="${base#*://}"
    local scheme="${base%%://*}"
    local host="${rest%%/*}"
    echo "${scheme}://${host}/$1${query}"
}

echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "== $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
echo "== load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== server: $(psql "$pg_url" -Atc 'SHOW server_version')"

if [[ -n "${SQLX_CHECKOUT_BIN:-}" ]]; then
    echo "== using $SQLX_CHECKOUT_BIN"
    example="$SQLX_CHECKOUT_BIN"
else
    echo "== building the example (release)"
    cargo build --release --quiet -p orders-sqlx --all-features --example checkout_throughput
    example="$target_dir/release/examples/checkout_throughput"
fi

pgbench_db="orders_pgbench_$(date +%s)_$$"
pgbench_url="$(with_database "$pgbench_db")"
drop_pgbench_db() {
    psql "$pg_url" -qAtc "DROP DATABASE IF EXISTS \"$pgbench_db\" WITH (FORCE)" >/dev/null 2>&1 || true
}
trap drop_pgbench_db EXIT

declare -A tps
if [[ "${SQLX_CHECKOUT_PGBENCH:-1}" != 0 ]]; then
    echo "== pgbench -i -s 10 on a throwaway database ($pgbench_db)"
    psql "$pg_url" -qAtc "CREATE DATABASE \"$pgbench_db\"" >/dev/null
    pgbench -q -i -s 10 "$pgbench_url" >/dev/null 2>&1
    for clients in 8 32; do
        out="$(pgbench -N -c "$clients" -j 2 -T 10 "$pgbench_url" 2>&1)"
        tps[$clients]="$(awk '/^tps = / {print $3}' <<<"$out")"
        printf '   pgbench -N -c %-2s -j 2 -T 10: %.0f TPS\n' "$clients" "${tps[$clients]}"
    done
    drop_pgbench_db
fi

echo "== checkouts ($checkouts per configuration)"
results="$(ORDERS_TEST_PG_URL="$pg_url" "$example" "$checkouts")"
echo "$results" | sed 's/^/   /'

echo
printf '| backend | tasks | checkouts/s | p50 (ms) | p99 (ms) | pgbench -N TPS (same clients) | ratio |\n'
printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n'
while read -r line; do
    [[ "$line" == *checkouts/s* ]] || continue
    backend="$(awk '{print $1}' <<<"$line")"
    tasks="$(sed -E 's/.*tasks= *([0-9]+).*/\1/' <<<"$line")"
    rate="$(sed -E 's/.* ([0-9.]+) checkouts\/s.*/\1/' <<<"$line")"
    p50="$(sed -E 's/.*p50= *([0-9.]+) ms.*/\1/' <<<"$line")"
    p99="$(sed -E 's/.*p99= *([0-9.]+) ms.*/\1/' <<<"$line")"
    base="${tps[$tasks]:-}"
    if [[ -n "$base" ]]; then
        ratio="$(awk -v r="$rate" -v b="$base" 'BEGIN {printf "%.2f", r / b}')"
        base="$(printf '%.0f' "$base")"
    else
        ratio="—"
        base="—"
    fi
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$backend" "$tasks" "$rate" "$p50" "$p99" "$base" "$ratio"
done <<<"$results"
