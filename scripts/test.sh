#!/usr/bin/env bash
# scripts/test.sh [GO TEST ARGS...]: run every Go test against a real PostgreSQL.
#
# The database: KEYWARD_TEST_DATABASE_URL if set, else KEYWARD_DATABASE_URL if set (the tests
# create databases of their own on that server), else a private cluster under .data/pg that this
# script starts (installing Debian's postgresql when root) and stops again (scripts/lib/postgres.sh).
# Then `go test -race ./...` (without -race, and saying so, when there is no C compiler), with any
# arguments passed on: scripts/test.sh -run TestToken ./internal/oauth
# Then, unless the arguments name packages, the packages the build tag openssl changes
# (internal/signer, internal/keys) again in that build: the native RS256 signer, libcrypto through
# cgo. It needs a C compiler and OpenSSL 3's headers; as root they are installed with apt-get when
# missing (scripts/lib/openssl.sh), otherwise one line says the native build was skipped and why.
# Exits with go test's status (the first failure's).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/postgres.sh
. "$ROOT/scripts/lib/postgres.sh"
# shellcheck source=scripts/lib/toolchain.sh
. "$ROOT/scripts/lib/toolchain.sh"
# shellcheck source=scripts/lib/openssl.sh
. "$ROOT/scripts/lib/openssl.sh"

command -v go >/dev/null 2>&1 || { echo "keyward: Go is not installed (https://go.dev/doc/install)" >&2; exit 1; }

GO_PID=""
# shellcheck disable=SC2317 # a trap handler
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	if [ -n "$GO_PID" ]; then
		kill -TERM "$GO_PID" 2>/dev/null || true
		wait "$GO_PID" 2>/dev/null || true
	fi
	keyward_pg_down
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [ -z "${KEYWARD_TEST_DATABASE_URL:-}" ]; then
	keyward_pg_up
	if [ "$KEYWARD_PG_EXTERNAL" = 1 ]; then
		KEYWARD_TEST_DATABASE_URL=$KEYWARD_DATABASE_URL
	else
		KEYWARD_TEST_DATABASE_URL=$(keyward_pg_url postgres)
	fi
fi
export KEYWARD_TEST_DATABASE_URL

# the openssl build below needs gcc and libssl-dev: as root they are installed now, so that -race
# has its C compiler too
keyward_openssl install

# -race needs cgo, and cgo a C compiler (Go turns cgo off by itself when it finds none)
race=(-race)
if ! { command -v "$(go env CC)" || command -v cc || command -v gcc; } >/dev/null 2>&1; then
	echo "keyward: no C compiler: running the tests without -race, which needs one (sudo apt-get install gcc)" >&2
	export CGO_ENABLED=0
	race=()
elif [ "$(go env CGO_ENABLED)" != 1 ]; then
	echo "keyward: cgo is off (CGO_ENABLED=$(go env CGO_ENABLED)): running the tests without -race, which needs it" >&2
	race=()
fi

# packages: ./... unless the arguments name some
pkgs=(./...)
for a in "$@"; do
	case $a in . | ./* | .. | ../* | github.com/*) pkgs=() ;; esac
done

# go test runs in the background so that Ctrl-C and SIGTERM reach the traps at once
set +e
go test ${race[@]+"${race[@]}"} ${pkgs[@]+"${pkgs[@]}"} "$@" &
GO_PID=$!
wait "$GO_PID"
rc=$?
GO_PID=""
set -e

# the native signer's build: the packages that -tags openssl changes
if [ ${#pkgs[@]} -gt 0 ]; then
	if [ ${#KEYWARD_GO_TAGS[@]} -gt 0 ]; then
		echo "keyward: the openssl build (native RS256 signer): go test ${race[*]-} -tags openssl ./internal/signer ./internal/keys" >&2
		set +e
		go test ${race[@]+"${race[@]}"} "${KEYWARD_GO_TAGS[@]}" ./internal/signer ./internal/keys "$@" &
		GO_PID=$!
		wait "$GO_PID"
		rc2=$?
		GO_PID=""
		set -e
		[ "$rc" != 0 ] || rc=$rc2
	else
		echo "keyward: skipped the tests of the openssl build (native RS256 signer): $KEYWARD_OPENSSL_MISSING" >&2
	fi
fi
exit "$rc"
