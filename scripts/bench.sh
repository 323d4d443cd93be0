#!/usr/bin/env bash
# Measures keyward on this machine and prints one table, every figure
# beside the baseline measured in the same run:
#   - RS256 signatures per second in a tight loop on the core keyward runs on;
#   - token requests per second with client_secret_basic at concurrency 32,
#     keyward pinned to one core and the load generator to another;
#   - JWKS requests per second, against a bare net/http handler serving the
#     same bytes on the same core.
#
#   scripts/bench.sh [-d 10s] [-c 32] [-clients 1000]
#
# Provisions PostgreSQL like scripts/dev.sh (or uses KEYWARD_DATABASE_URL),
# uses a fresh database keyward_bench, and stops every process it started.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=10s CONC=32 CLIENTS=1000
while [ $# -gt 0 ]; do
	case $1 in
	-d) DURATION=$2; shift 2 ;;
	-c) CONC=$2; shift 2 ;;
	-clients) CLIENTS=$2; shift 2 ;;
	*) echo "usage: scripts/bench.sh [-d 10s] [-c 32] [-clients N]" >&2; exit 2 ;;
	esac
done

# shellcheck source=scripts/lib/postgres.sh
. "$ROOT/scripts/lib/postgres.sh"

PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	keyward_pg_down
}
trap cleanup EXIT

ncpu=$(nproc)
if command -v taskset >/dev/null && [ "$ncpu" -ge 2 ]; then
	SERVER_CPU=(taskset -c 0) LOAD_CPU=(taskset -c 1)
else
	echo "bench: taskset or a second core is missing: running unpinned (figures are less comparable)" >&2
	SERVER_CPU=() LOAD_CPU=()
fi

BIN=$ROOT/.data/bench
mkdir -p "$BIN"
go build -o "$BIN/keyward" ./cmd/keyward
go build -o "$BIN/keyward-bench" ./cmd/keyward-bench

keyward_pg_up
if [ -n "${KEYWARD_DATABASE_URL:-}" ]; then
	DB_URL=$KEYWARD_DATABASE_URL
else
	psql_url=$(keyward_pg_url postgres)
	# A fresh database each run, so earlier runs' clients do not count.
	if command -v psql >/dev/null; then
		psql -q "$psql_url" -c "DROP DATABASE IF EXISTS keyward_bench WITH (FORCE)" >/dev/null
	fi
	DB_URL=$(keyward_pg_url keyward_bench)
fi

port=18181
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
BASE=http://127.0.0.1:$port
ADMIN_ID=bench-admin
ADMIN_SECRET=$(head -c 32 /dev/urandom | base64 | tr -d '/+=')
KEYWARD_DATABASE_URL=$DB_URL \
	KEYWARD_KEY_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64) \
	KEYWARD_BOOTSTRAP_CLIENT_ID=$ADMIN_ID KEYWARD_BOOTSTRAP_CLIENT_SECRET=$ADMIN_SECRET \
	KEYWARD_LOG_LEVEL=warn \
	"${SERVER_CPU[@]}" "$BIN/keyward" serve --addr "127.0.0.1:$port" --issuer "$BASE" 2>"$BIN/keyward.log" &
PIDS+=($!)
for _ in $(seq 1 150); do
	curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null && break
	sleep 0.2
done
curl -fsS -o /dev/null "$BASE/readyz" || { echo "bench: keyward did not get ready; see $BIN/keyward.log" >&2; exit 1; }

field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p"; }

setup=$("$BIN/keyward-bench" setup -url "$BASE" -admin-id "$ADMIN_ID" -admin-secret "$ADMIN_SECRET" -clients "$CLIENTS")
CID=$(field client_id <<<"$setup")
CSECRET=$(field client_secret <<<"$setup")

sign=$("${SERVER_CPU[@]}" "$BIN/keyward-bench" sign -d 5s)
token=$("${LOAD_CPU[@]}" "$BIN/keyward-bench" token -url "$BASE" -client-id "$CID" -client-secret "$CSECRET" -c "$CONC" -d "$DURATION")
jwks=$("${LOAD_CPU[@]}" "$BIN/keyward-bench" get -url "$BASE/.well-known/jwks.json" -c "$CONC" -d "$DURATION")

bare_out=$BIN/bare.out
"${SERVER_CPU[@]}" "$BIN/keyward-bench" bytes -from "$BASE/.well-known/jwks.json" >"$bare_out" &
PIDS+=($!)
for _ in $(seq 1 50); do grep -q listening "$bare_out" 2>/dev/null && break; sleep 0.1; done
BARE=$(field listening <"$bare_out")
bare=$("${LOAD_CPU[@]}" "$BIN/keyward-bench" get -url "$BARE" -c "$CONC" -d "$DURATION")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "-" }'; }
row() { # NAME RESULT BASELINE_PER_SECOND
	printf '%-28s %10.0f %9s %9s %9s %7s %9s\n' "$1" "$(field per_second <<<"$2")" \
		"$(field p50_ms <<<"$2")" "$(field p90_ms <<<"$2")" "$(field p99_ms <<<"$2")" \
		"$(field errors <<<"$2")" "$(ratio "$(field per_second <<<"$2")" "$3")"
}

sign_ps=$(field per_second <<<"$sign")
bare_ps=$(field per_second <<<"$bare")
echo
echo "keyward bench $(date -u +%Y-%m-%d) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') ($ncpu cores), $CLIENTS clients, c=$CONC, $DURATION"
printf '%-28s %10s %9s %9s %9s %7s %9s\n' scenario "req/s" "p50 ms" "p90 ms" "p99 ms" errors "of base"
printf '%-28s %10.0f %9s %9s %9s %7s %9s\n' "baseline: RS256 signs/s" "$sign_ps" - - - - 100%
row "token client_secret_basic" "$token" "$sign_ps"
printf '%-28s %10.0f %9s %9s %9s %7s %9s\n' "baseline: bare handler" "$bare_ps" - - - - 100%
row "jwks" "$jwks" "$bare_ps"
echo "create clients: $(field create_per_second <<<"$setup" | cut -d. -f1)/s through the admin API (one at a time)"
