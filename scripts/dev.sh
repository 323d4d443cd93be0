#!/usr/bin/env bash
# scripts/dev.sh: run keyward for development, in the foreground until Ctrl-C.
#
# The database: KEYWARD_DATABASE_URL if set, else database `keyward` on a private cluster under
# .data/pg, started here (installing Debian's postgresql when root) and stopped on exit
# (scripts/lib/postgres.sh). Kept in .data across runs, so every run has the same data:
#   .data/kek         the key-encryption key (KEYWARD_KEY_ENCRYPTION_KEY, unless that is set)
#   .data/bootstrap   the bootstrap admin client's id and secret
# Respects KEYWARD_ADDR (127.0.0.1:8080), KEYWARD_ISSUER (http://localhost:PORT) and every other
# KEYWARD_* setting of `keyward serve`. Prints the admin credentials and curl lines to try.
# Builds with the native RS256 signer (-tags openssl: libcrypto) when a C compiler and OpenSSL 3's
# headers are here, installing gcc and libssl-dev when root (scripts/lib/openssl.sh); otherwise with
# Go's, saying how to get the native one. KEYWARD_OPENSSL=0 builds pure Go.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/postgres.sh
. "$ROOT/scripts/lib/postgres.sh"
# shellcheck source=scripts/lib/toolchain.sh
. "$ROOT/scripts/lib/toolchain.sh"
# shellcheck source=scripts/lib/openssl.sh
. "$ROOT/scripts/lib/openssl.sh"

say() { echo "keyward: $*" >&2; }
die() {
	say "$*"
	exit 1
}

command -v go >/dev/null 2>&1 || die "Go is not installed (https://go.dev/doc/install)"
command -v curl >/dev/null 2>&1 || die "curl is not installed (apt-get install curl)"

export KEYWARD_ADDR=${KEYWARD_ADDR:-127.0.0.1:8080}
port=${KEYWARD_ADDR##*:}
host=${KEYWARD_ADDR%:*}
host=${host#[}
host=${host%]}
[[ $port =~ ^[0-9]+$ ]] || die "KEYWARD_ADDR must be HOST:PORT, got $KEYWARD_ADDR"
export KEYWARD_ISSUER=${KEYWARD_ISSUER:-http://localhost:$port}
# where curl reaches the server
case $host in
"" | 0.0.0.0 | 127.0.0.1 | localhost) url=http://127.0.0.1:$port ;;
:: | ::1) url="http://[::1]:$port" ;;
*:*) url="http://[$host]:$port" ;;
*) url=http://$host:$port ;;
esac
if (exec 3<>"/dev/tcp/${host:-127.0.0.1}/$port") 2>/dev/null; then
	die "port $port is busy (something already listens on $KEYWARD_ADDR): stop it, or choose another with KEYWARD_ADDR=127.0.0.1:PORT scripts/dev.sh"
fi

KW_PID=""
# shellcheck disable=SC2317 # a trap handler
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	if [ -n "$KW_PID" ] && kill -0 "$KW_PID" 2>/dev/null; then
		say "stopping keyward"
		kill -TERM "$KW_PID" 2>/dev/null || true
		wait "$KW_PID" 2>/dev/null || true
	fi
	keyward_pg_down
	exit "$rc"
}
trap cleanup EXIT
trap 'echo >&2; exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mkdir -p "$ROOT/.data"

# random_text N: N random bytes as URL-safe base64 without padding
random_text() { head -c "$1" /dev/urandom | base64 | tr -d '\n=' | tr '+/' '-_'; }

# the key-encryption key: made once, never replaced (the signing keys in the database are sealed
# with it). Written to a temporary file first, then linked into place, which fails if it exists.
if [ -z "${KEYWARD_KEY_ENCRYPTION_KEY:-}" ]; then
	if [ ! -s "$ROOT/.data/kek" ]; then
		tmp=$(mktemp "$ROOT/.data/kek.XXXXXX")
		head -c 32 /dev/urandom | base64 >"$tmp"
		chmod 600 "$tmp"
		if ln "$tmp" "$ROOT/.data/kek" 2>/dev/null; then say "made a new key-encryption key in .data/kek"; fi
		rm -f "$tmp"
	fi
	KEYWARD_KEY_ENCRYPTION_KEY=$(tr -d ' \n' <"$ROOT/.data/kek")
	export KEYWARD_KEY_ENCRYPTION_KEY
fi

# the bootstrap admin client: made once, the same on every run
if [ -z "${KEYWARD_BOOTSTRAP_CLIENT_ID:-}" ] || [ -z "${KEYWARD_BOOTSTRAP_CLIENT_SECRET:-}" ]; then
	if [ ! -s "$ROOT/.data/bootstrap" ]; then
		tmp=$(mktemp "$ROOT/.data/bootstrap.XXXXXX")
		chmod 600 "$tmp"
		printf 'KEYWARD_BOOTSTRAP_CLIENT_ID=m2m_dev%s\nKEYWARD_BOOTSTRAP_CLIENT_SECRET=kw_sk_%s\n' \
			"$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" "$(random_text 32)" >"$tmp"
		ln "$tmp" "$ROOT/.data/bootstrap" 2>/dev/null || true
		rm -f "$tmp"
	fi
	KEYWARD_BOOTSTRAP_CLIENT_ID=$(sed -n 's/^KEYWARD_BOOTSTRAP_CLIENT_ID=//p' "$ROOT/.data/bootstrap")
	KEYWARD_BOOTSTRAP_CLIENT_SECRET=$(sed -n 's/^KEYWARD_BOOTSTRAP_CLIENT_SECRET=//p' "$ROOT/.data/bootstrap")
	export KEYWARD_BOOTSTRAP_CLIENT_ID KEYWARD_BOOTSTRAP_CLIENT_SECRET
fi

keyward_pg_up
if [ "$KEYWARD_PG_EXTERNAL" = 1 ]; then
	say "using the database in KEYWARD_DATABASE_URL"
else
	KEYWARD_DATABASE_URL=$(keyward_pg_url keyward)
	export KEYWARD_DATABASE_URL
fi

# the native RS256 signer (libcrypto) when it builds here; as root, gcc and libssl-dev are installed
keyward_openssl install
if [ ${#KEYWARD_GO_TAGS[@]} -gt 0 ]; then
	say "building keyward with the native RS256 signer (go build -tags openssl ./cmd/keyward)"
else
	say "building keyward with Go's RS256 signer (crypto/rsa): $KEYWARD_OPENSSL_MISSING"
fi
go build ${KEYWARD_GO_TAGS[@]+"${KEYWARD_GO_TAGS[@]}"} -o "$ROOT/.data/keyward" ./cmd/keyward

say "starting keyward serve on $KEYWARD_ADDR"
"$ROOT/.data/keyward" serve &
KW_PID=$!

ready=0
for ((i = 0; i < 600; i++)); do
	if [ "$(curl -s --noproxy '*' -m 2 -o /dev/null -w '%{http_code}' "$url/readyz" 2>/dev/null)" = 200 ]; then
		ready=1
		break
	fi
	if ! kill -0 "$KW_PID" 2>/dev/null; then
		rc=0
		wait "$KW_PID" || rc=$?
		KW_PID=""
		die "keyward serve exited ($rc) before it was ready: see its messages above"
	fi
	sleep 0.2
done
[ "$ready" = 1 ] || die "keyward did not answer 200 on $url/readyz within 2 minutes"

cat <<EOF

keyward is ready at $url (issuer $KEYWARD_ISSUER). Ctrl-C stops it.
RS256 tokens are signed with: $("$ROOT/.data/keyward" version | sed -n 's/.*, signer //p')

Bootstrap admin client (kept in .data/bootstrap, the same on every run):
  client_id      $KEYWARD_BOOTSTRAP_CLIENT_ID
  client_secret  $KEYWARD_BOOTSTRAP_CLIENT_SECRET

The admin console: open $url/console in a browser and sign in with that client.

Try it: paste these lines into bash (they need only curl and sed).

KW=$url
ADMIN_ID=$KEYWARD_BOOTSTRAP_CLIENT_ID
ADMIN_SECRET=$KEYWARD_BOOTSTRAP_CLIENT_SECRET
# (a) an admin access token
ADMIN_TOKEN=\$(curl -sSf -u "\$ADMIN_ID:\$ADMIN_SECRET" -d grant_type=client_credentials "\$KW/oauth/token" | sed -n 's/.*"access_token": *"\([^"]*\)".*/\1/p')
# (b) an organization, then a client in it (CLIENT holds its client_id:client_secret)
ORG_ID=\$(curl -sSf -H "Authorization: Bearer \$ADMIN_TOKEN" -H 'Content-Type: application/json' -d '{"display_name":"Acme Corp"}' "\$KW/api/v1/organizations" | sed -n 's/.*"id": *"\(org_[^"]*\)".*/\1/p')
CLIENT=\$(curl -sSf -H "Authorization: Bearer \$ADMIN_TOKEN" -H 'Content-Type: application/json' -d '{"name":"deployer","scopes":["deploy:applications"],"audience":["deployment-api.example.com"]}' "\$KW/api/v1/organizations/\$ORG_ID/clients" | sed -n 's/.*"client_id": *"\([^"]*\)".*"plain_secret": *"\([^"]*\)".*/\1:\2/p')
# (c) an access token for that client
curl -sS -u "\$CLIENT" -d grant_type=client_credentials "\$KW/oauth/token"

EOF

rc=0
wait "$KW_PID" || rc=$?
KW_PID=""
exit "$rc"
