#!/usr/bin/env bash
# scripts/e2e.sh [--update-screenshot]: the admin console's end-to-end tests, in a real browser.
#
# Installs what is missing: Debian's chromium (/usr/bin/chromium) with apt-get when root (otherwise
# it says what to install and exits 1), and playwright-core at the version pinned in
# web/e2e/package-lock.json (npm ci; playwright-core downloads no browser). Builds keyward,
# provisions PostgreSQL like scripts/dev.sh (a fresh database keyward_e2e each run, or
# KEYWARD_DATABASE_URL, which must be empty), starts `keyward serve` on a free port with a
# bootstrap admin client made up for the run, and runs web/e2e/console.test.mjs with node's test
# runner, which drives headless Chromium through the console. Screenshots of each screen land in
# .data/e2e/*.png; --update-screenshot also refreshes web/screenshot.png, the one the README shows.
# Stops everything it started and exits with the test's status.
#
# KEYWARD_E2E_CHROMIUM names another Chromium binary.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/postgres.sh
. "$ROOT/scripts/lib/postgres.sh"
# shellcheck source=scripts/lib/toolchain.sh
. "$ROOT/scripts/lib/toolchain.sh"

say() { echo "e2e: $*" >&2; }
die() {
	say "$*"
	exit 1
}

UPDATE_SCREENSHOT=0
case ${1:-} in
"") ;;
--update-screenshot) UPDATE_SCREENSHOT=1 ;;
*) die "usage: scripts/e2e.sh [--update-screenshot]" ;;
esac

# One run at a time per clone: runs share .data/e2e and the database keyward_e2e. (fd 9 holds the
# lock; the long-lived processes started below get it closed, so none of them keeps it.)
mkdir -p "$ROOT/.data"
if command -v flock >/dev/null 2>&1; then
	exec 9>"$ROOT/.data/e2e.lock"
	if ! flock -n 9; then
		say "another scripts/e2e.sh is running in this clone: waiting for it to finish"
		flock 9
	fi
fi

CHROMIUM=${KEYWARD_E2E_CHROMIUM:-/usr/bin/chromium}
OUT=$ROOT/.data/e2e
E2E=$ROOT/web/e2e
start=$(date +%s)

command -v go >/dev/null 2>&1 || die "Go is not installed (https://go.dev/doc/install)"
command -v curl >/dev/null 2>&1 || die "curl is not installed (apt-get install curl)"
is_root=0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then is_root=1; fi

# apt_install LOG PACKAGE...: Debian packages, as root
apt_install() {
	local log=$1
	shift
	mkdir -p "$ROOT/.data"
	say "installing $* with apt-get (log .data/$log)"
	if ! {
		DEBIAN_FRONTEND=noninteractive apt-get update &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
	} >"$ROOT/.data/$log" 2>&1 </dev/null; then
		tail -5 "$ROOT/.data/$log" >&2
		die "apt-get install $* failed (see .data/$log)"
	fi
}

# Node.js and npm run the test; Chromium is the browser.
missing=()
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
if [ ! -x "$CHROMIUM" ]; then
	[ -z "${KEYWARD_E2E_CHROMIUM:-}" ] || die "KEYWARD_E2E_CHROMIUM=$CHROMIUM is not an executable"
	missing+=(chromium fonts-dejavu-core)
fi
if [ ${#missing[@]} -gt 0 ]; then
	[ "$is_root" = 1 ] || die "missing ${missing[*]}: run \`sudo apt-get install ${missing[*]}\` and retry"
	apt_install apt-e2e.log "${missing[@]}"
	[ -x "$CHROMIUM" ] || die "apt-get installed chromium, but $CHROMIUM is not there"
fi
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
	die "Node.js 20 or later is needed to run the tests; this is $(node --version)"

# playwright-core at the locked version (it fetches no browser: it drives the one above)
want=$(node -p 'require(process.argv[1]).packages["node_modules/playwright-core"].version' "$E2E/package-lock.json")
have=$(node -p 'require(process.argv[1]).version' "$E2E/node_modules/playwright-core/package.json" 2>/dev/null || true)
if [ "$have" != "$want" ]; then
	say "installing playwright-core $want (npm ci in web/e2e)"
	(cd "$E2E" && npm ci --no-audit --no-fund --loglevel=error) >&2 || die "npm ci in web/e2e failed"
fi

KW_PID="" TEST_PID=""
# shellcheck disable=SC2317 # a trap handler
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	if [ -n "$TEST_PID" ]; then
		kill -TERM "$TEST_PID" 2>/dev/null || true
		wait "$TEST_PID" 2>/dev/null || true
	fi
	if [ -n "$KW_PID" ]; then
		kill -TERM "$KW_PID" 2>/dev/null || true
		wait "$KW_PID" 2>/dev/null || true
	fi
	keyward_pg_down
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

rm -rf "$OUT"
mkdir -p "$OUT"
say "building keyward"
go build -o "$OUT/keyward" ./cmd/keyward

keyward_pg_up 9>&-
PSQL=psql
if [ -n "$KEYWARD_PG_BIN" ] && [ -x "$KEYWARD_PG_BIN/psql" ]; then PSQL=$KEYWARD_PG_BIN/psql; fi
if [ "$KEYWARD_PG_EXTERNAL" = 1 ]; then
	# The test counts what it creates: it needs an empty database.
	if command -v "$PSQL" >/dev/null 2>&1 && [ "$("$PSQL" -XAtq "$KEYWARD_DATABASE_URL" \
		-c "SELECT to_regclass('organizations') IS NOT NULL AND EXISTS (SELECT 1 FROM organizations)" 2>/dev/null)" = t ]; then
		die "KEYWARD_DATABASE_URL names a database with organizations in it: give the browser tests an empty one"
	fi
	say "using the database in KEYWARD_DATABASE_URL"
	DB_URL=$KEYWARD_DATABASE_URL
else
	PGOPTIONS="-c client_min_messages=warning" "$PSQL" -Xq "$(keyward_pg_url postgres)" -c "DROP DATABASE IF EXISTS keyward_e2e WITH (FORCE)" >/dev/null
	DB_URL=$(keyward_pg_url keyward_e2e)
fi

port=18380
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
BASE=http://127.0.0.1:$port
ADMIN_ID=e2e-admin
ADMIN_SECRET=kw_sk_$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')
# A JWKS max-age of 1 s and a publish lead of 6 s let the test see a rotation confirmed (the next
# key made at start-up is old enough by then) and one refused (the key that rotation published is
# seconds old), instead of waiting the default 30 minutes.
KEYWARD_DATABASE_URL=$DB_URL \
	KEYWARD_KEY_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64) \
	KEYWARD_BOOTSTRAP_CLIENT_ID=$ADMIN_ID KEYWARD_BOOTSTRAP_CLIENT_SECRET=$ADMIN_SECRET \
	KEYWARD_JWKS_MAX_AGE=1s KEYWARD_KEY_PUBLISH_LEAD=6s KEYWARD_LOG_LEVEL=warn \
	"$OUT/keyward" serve --addr "127.0.0.1:$port" --issuer "$BASE" 2>"$OUT/keyward.log" 9>&- &
KW_PID=$!
ready=0
for _ in $(seq 1 300); do
	if [ "$(curl -s --noproxy '*' -m 2 -o /dev/null -w '%{http_code}' "$BASE/readyz" 2>/dev/null)" = 200 ]; then
		ready=1
		break
	fi
	kill -0 "$KW_PID" 2>/dev/null || { tail -5 "$OUT/keyward.log" >&2; die "keyward exited before it was ready (log .data/e2e/keyward.log)"; }
	sleep 0.2
done
[ "$ready" = 1 ] || die "keyward did not get ready on $BASE (log .data/e2e/keyward.log)"
say "keyward is serving the console at $BASE/console"

screenshot=""
if [ "$UPDATE_SCREENSHOT" = 1 ]; then screenshot=$ROOT/web/screenshot.png; fi
set +e
(
	cd "$E2E"
	KEYWARD_URL=$BASE KEYWARD_ADMIN_ID=$ADMIN_ID KEYWARD_ADMIN_SECRET=$ADMIN_SECRET \
		E2E_OUT=$OUT E2E_CHROMIUM=$CHROMIUM E2E_README_SCREENSHOT=$screenshot \
		exec node --test --test-reporter=spec --test-concurrency=1 console.test.mjs 9>&-
) &
TEST_PID=$!
wait "$TEST_PID"
rc=$?
TEST_PID=""
set -e
say "$( [ "$rc" = 0 ] && echo passed || echo "FAILED ($rc)" ) in $(($(date +%s) - start)) s; screenshots in .data/e2e/"
exit "$rc"
