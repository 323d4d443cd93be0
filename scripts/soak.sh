#!/usr/bin/env bash
# scripts/soak.sh [-d 5m] [-c 24]: three keyward replicas on one database under mixed load at
# saturation (token requests verified by caching verifiers, JWKS fetches, admin writes), with one
# signing-key rotation and one PostgreSQL restart along the way. Prints requests, 5xx answers
# inside and outside the deliberate outage (in all and by endpoint: token, JWKS, create client),
# acknowledged writes lost, unknown kids, and each replica's RSS and goroutines at the start and
# the end, and every minute in between. A script, not a timed test.
#
# Provisions PostgreSQL like scripts/dev.sh (a private cluster it can restart; it refuses
# KEYWARD_DATABASE_URL, whose server is not its to restart), uses a fresh database keyward_soak,
# and stops every process it started.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/postgres.sh
. "$ROOT/scripts/lib/postgres.sh"
# shellcheck source=scripts/lib/toolchain.sh
. "$ROOT/scripts/lib/toolchain.sh"

if [ "${1:-}" = --restart-database ]; then # the outage, run by the load generator
	keyward_pg_up >/dev/null 2>&1
	keyward_pg_restart
	exit
fi

DURATION=5m CONC=24
while [ $# -gt 0 ]; do
	case $1 in
	-d) DURATION=$2; shift 2 ;;
	-c) CONC=$2; shift 2 ;;
	*) echo "usage: scripts/soak.sh [-d 5m] [-c 24]" >&2; exit 2 ;;
	esac
done
if [ -n "${KEYWARD_DATABASE_URL:-}" ]; then
	echo "soak: unset KEYWARD_DATABASE_URL: the soak restarts its database, so it uses a private cluster" >&2
	exit 2
fi

PIDS=()
SAMPLER=""
cleanup() {
	[ -z "$SAMPLER" ] || kill "$SAMPLER" 2>/dev/null || true
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	keyward_pg_down
}
trap cleanup EXIT

BIN=$ROOT/.data/soak
mkdir -p "$BIN"
go build -o "$BIN/keyward" ./cmd/keyward
go build -o "$BIN/keyward-bench" ./cmd/keyward-bench

keyward_pg_up
psql=$KEYWARD_PG_BIN/psql
[ -x "$psql" ] || psql=psql
"$psql" -q "$(keyward_pg_url postgres)" -c "DROP DATABASE IF EXISTS keyward_soak WITH (FORCE)" >/dev/null
DB_URL=$(keyward_pg_url keyward_soak)

ADMIN_ID=soak-admin
ADMIN_SECRET=$(head -c 32 /dev/urandom | base64 | tr -d '/+=')
KEK=$(head -c 32 /dev/urandom | base64)
URLS=() PORTS=()
port=18281
for i in 1 2 3; do
	while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
	PORTS+=("$port")
	URLS+=("http://127.0.0.1:$port")
	# A short publish lead, so that the rotation can happen minutes in; every replica has the same
	# issuer, as behind one load balancer.
	KEYWARD_DATABASE_URL=$DB_URL KEYWARD_KEY_ENCRYPTION_KEY=$KEK \
		KEYWARD_BOOTSTRAP_CLIENT_ID=$ADMIN_ID KEYWARD_BOOTSTRAP_CLIENT_SECRET=$ADMIN_SECRET \
		KEYWARD_LOG_LEVEL=warn KEYWARD_AUTH_FAILURES_PER_SOURCE=100000 \
		"$BIN/keyward" serve --addr "127.0.0.1:$port" --issuer "http://keyward.soak" \
		--jwks-max-age 10s --key-publish-lead 20s --max-token-requests 1024 2>"$BIN/replica-$i.log" &
	PIDS+=($!)
	port=$((port + 1))
done
for u in "${URLS[@]}"; do
	for _ in $(seq 1 300); do curl -fsS -o /dev/null "$u/readyz" 2>/dev/null && break; sleep 0.2; done
	curl -fsS -o /dev/null "$u/readyz" || { echo "soak: $u did not get ready; see $BIN/replica-*.log" >&2; exit 1; }
done

# snapshot: each replica's RSS (from /proc) and goroutines (from /metrics)
snapshot() {
	local i=0 pid rss gor
	for pid in "${PIDS[@]}"; do
		rss=$(awk '/^VmRSS/ { printf "%d MB", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || echo "?")
		gor=$(curl -fsS "${URLS[$i]}/metrics" 2>/dev/null | awk '/^keyward_goroutines / { print $2 }')
		echo "  replica $((i + 1)) (${URLS[$i]}): RSS $rss, ${gor:-?} goroutines"
		i=$((i + 1))
	done
}
echo "soak: 3 replicas on one database, $DURATION, $CONC token workers; at the start:"
snapshot

# Every minute, each replica's RSS and goroutines, so that a trend shows (memory must stay flat).
SAMPLES=$BIN/samples
: >"$SAMPLES"
(
	trap 'kill $! 2>/dev/null; exit 0' TERM
	while :; do
		sleep 60 & # waited for, so that TERM ends the loop at once
		wait $!
		i=0
		for pid in "${PIDS[@]}"; do
			rss=$(awk '/^VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || echo "?")
			gor=$(curl -fsS -m 5 "${URLS[$i]}/metrics" 2>/dev/null | awk '/^keyward_goroutines / { print $2 }')
			echo "$i $rss ${gor:-?}" >>"$SAMPLES"
			i=$((i + 1))
		done
	done
) &
SAMPLER=$!

urls=$(IFS=,; echo "${URLS[*]}")
result=$("$BIN/keyward-bench" soak -urls "$urls" -admin-id "$ADMIN_ID" -admin-secret "$ADMIN_SECRET" \
	-d "$DURATION" -c "$CONC" -outage-cmd "'$ROOT/scripts/soak.sh' --restart-database")

kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
echo "at the end:"
snapshot
echo "every minute in between (RSS MB/goroutines):"
for i in 0 1 2; do
	echo "  replica $((i + 1)): $(awk -v r="$i" '$1 == r { printf "%s%s/%s", sep, $2, $3; sep = " " }' "$SAMPLES")"
done
echo
echo "$result" | python3 -m json.tool 2>/dev/null || echo "$result"
fails=$(echo "$result" | sed -n 's/.*"5xx_outside_outage":\([0-9]*\).*/\1/p')
lost=$(echo "$result" | sed -n 's/.*"lost_writes":\([0-9]*\).*/\1/p')
unknown=$(echo "$result" | sed -n 's/.*"unknown_kid":\([0-9]*\).*/\1/p')
if [ "${fails:-1}" = 0 ] && [ "${lost:-1}" = 0 ] && [ "${unknown:-1}" = 0 ]; then
	echo "soak: passed: no 5xx outside the outage, no lost writes, no unknown kids"
else
	echo "soak: FAILED: 5xx outside the outage $fails, lost writes $lost, unknown kids $unknown" >&2
	exit 1
fi
