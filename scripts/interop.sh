#!/usr/bin/env bash
# scripts/interop.sh: keyward against the tools people already use, on a live server on loopback.
#
# Provisions PostgreSQL like scripts/test.sh (scripts/lib/postgres.sh, or the server of
# KEYWARD_DATABASE_URL; a database of its own, dropped at the end), builds keyward and starts
# `keyward serve` on a free 127.0.0.1 port with a bootstrap admin, a JWKS max-age of 2 s and a
# publish lead of 4 s (so that it can rotate its signing key twice within seconds), then checks:
#   readme:  the README's resource-server examples are the files below, and its quickstart curl
#            lines are the ones scripts/dev.sh prints;
#   node:    openid-client v6 and jose v6 (scripts/interop/node, installed with npm ci from its
#            committed lock file), and the README's Node.js resource server (resource-server.mjs);
#   go:      golang.org/x/oauth2/clientcredentials, go-oidc v3 and keyfunc v3 with golang-jwt v5,
#            across two key rotations, and the README's Go resource server (scripts/interop/go, a
#            module of its own, so none of this enters keyward's go.mod);
#   curl:    the README's quickstart curl lines, run as they are printed;
#   cli:     the README's quickstart with the admin CLI instead of curl, run as it is printed;
#   client-signed: the README's client-signed token flows (RS256 signed with PyJWT, HS256 with
#            keyward sign-client-token), introspection, and the demo API that accepts both;
#   openapi: GET /api/openapi.yaml is api/openapi.yaml.
# Prints `ok   NAME` or `FAIL NAME: why` per check and `interop: N passed, N failed`; exits 1 if any
# check failed. Stops everything it started. Logs and work files in .data/interop/.
# Needs Go, Node.js 20.19 or later with npm, curl and jq (installed with apt-get when root).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/postgres.sh
. "$ROOT/scripts/lib/postgres.sh"
# shellcheck source=scripts/lib/toolchain.sh
. "$ROOT/scripts/lib/toolchain.sh"

say() { echo "interop: $*" >&2; }
die() {
	say "$*"
	exit 1
}

WORK=$ROOT/.data/interop
T0=$SECONDS
KW_PID="" DB_NAME="" DB_ADMIN_URL="" PSQL=psql PASSED=0 FAILED=0

# shellcheck disable=SC2317 # a trap handler
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	if [ -n "$KW_PID" ] && kill -0 "$KW_PID" 2>/dev/null; then
		kill -TERM "$KW_PID" 2>/dev/null || true
		wait "$KW_PID" 2>/dev/null || true
	fi
	if [ -n "$DB_NAME" ]; then
		"$PSQL" "$DB_ADMIN_URL" -XqAt -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" </dev/null >/dev/null 2>&1 || true
	fi
	keyward_pg_down
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

pg_tool() {
	if [ -n "$KEYWARD_PG_BIN" ] && [ -x "$KEYWARD_PG_BIN/$1" ]; then echo "$KEYWARD_PG_BIN/$1"; else echo "$1"; fi
}

# ---- what it needs ---------------------------------------------------------------------------------
command -v go >/dev/null 2>&1 || die "Go is not installed (https://go.dev/doc/install)"
command -v curl >/dev/null 2>&1 || die "curl is not installed (apt-get install curl)"
if ! command -v jq >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		say "jq is not installed: installing Debian's jq with apt-get"
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends jq ||
			{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends jq; }; } \
			>/dev/null 2>&1 </dev/null || die "apt-get install jq failed"
	else
		die "jq is not installed (sudo apt-get install jq)"
	fi
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	die "Node.js and npm are not installed (Node.js 20.19 or later)"
fi
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
	die "Node.js $(node --version) is too old: openid-client v6 and jose v6 need 20.19 or later"

mkdir -p "$WORK"
rm -f "$WORK"/*.out "$WORK"/*.sh

# ---- checks ----------------------------------------------------------------------------------------
pass() {
	PASSED=$((PASSED + 1))
	echo "ok   $1"
}
fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL $1: $2"
}
# relay FILE: pass on the ok/FAIL lines a program printed, counting them
relay() {
	local l
	while IFS= read -r l; do
		case $l in
		"ok   "*)
			PASSED=$((PASSED + 1))
			echo "$l"
			;;
		"FAIL "*)
			FAILED=$((FAILED + 1))
			echo "$l"
			;;
		esac
	done <"$1"
}

# readme_block MARKER: the fenced block that follows the line `<!-- interop: MARKER -->` in README.md
readme_block() {
	awk -v m="<!-- interop: $1 -->" '
		index($0, m) == 1 { found = 1; next }
		found == 1 && /^```/ { found = 2; next }
		found == 2 && /^```[ \t]*$/ { exit }
		found == 2 { print }
	' README.md
}

# the README shows the resource-server examples as they are in these files
check_readme_file() {
	local name=$1 file=$2 diff
	if ! grep -qF "<!-- interop: file $file -->" README.md; then
		fail "$name" "README.md has no block marked <!-- interop: file $file -->"
	elif ! diff=$(diff <(readme_block "file $file") "$file"); then
		fail "$name" "the README's block differs from $file (copy the file into the README): $(head -5 <<<"$diff" | tr '\n' ' ')"
	else
		pass "$name"
	fi
}
check_readme_file "readme: the Go resource-server example is scripts/interop/go/resourceserver/resourceserver.go" \
	scripts/interop/go/resourceserver/resourceserver.go
check_readme_file "readme: the Node.js resource-server example is scripts/interop/node/resource-server.mjs" \
	scripts/interop/node/resource-server.mjs

# the README's quickstart curl lines are the ones dev.sh prints (its heredoc, unescaped), from (a) on
readme_curl=$(readme_block quickstart-curl)
devsh_curl=$(sed -n '/^# (a) /,/^EOF$/p' scripts/dev.sh | sed '$d' | sed -e 's/\\\$/$/g' -e '/^$/d')
if [ -z "$readme_curl" ]; then
	fail "readme: the quickstart curl lines are the ones scripts/dev.sh prints" "README.md has no block marked <!-- interop: quickstart-curl -->"
elif ! diff=$(diff <(grep -v '^KW=\|^ADMIN_ID=\|^ADMIN_SECRET=' <<<"$readme_curl") <(echo "$devsh_curl")); then
	fail "readme: the quickstart curl lines are the ones scripts/dev.sh prints" "$(head -4 <<<"$diff" | tr '\n' ' ' | cut -c1-300)"
else
	pass "readme: the quickstart curl lines are the ones scripts/dev.sh prints"
fi

# ---- PostgreSQL, keyward and the interop programs ---------------------------------------------------
# db_url URL NAME: URL naming database NAME instead of its own
db_url() {
	local u=$1 q=""
	case $u in *\?*) q="?${u#*\?}" u=${u%%\?*} ;; esac
	case ${u#*://} in */*) u=${u%/*} ;; esac
	echo "$u/$2$q"
}
# A database of its own, made afresh and dropped at the end, on the private cluster or, with
# KEYWARD_DATABASE_URL set, on that server (as scripts/test.sh's tests do): keyward's signing keys
# there are sealed with this run's key-encryption key.
keyward_pg_up
if [ "$KEYWARD_PG_EXTERNAL" = 1 ]; then
	DB_ADMIN_URL=$KEYWARD_DATABASE_URL
else
	DB_ADMIN_URL=$(keyward_pg_url postgres)
fi
PSQL=$(pg_tool psql)
command -v "$PSQL" >/dev/null 2>&1 || die "psql is not installed (apt-get install postgresql-client)"
DB_NAME=interop_$$_$RANDOM
"$PSQL" "$DB_ADMIN_URL" -XqAt -c "CREATE DATABASE $DB_NAME" </dev/null >/dev/null || die "could not create database $DB_NAME"
DB_URL=$(db_url "$DB_ADMIN_URL" "$DB_NAME")

say "building keyward and the Go interop program; npm ci in scripts/interop/node"
go build -o "$WORK/bin/keyward" ./cmd/keyward
(cd scripts/interop/go && go build -o "$WORK/interop-go" .)
(cd scripts/interop/node && npm ci --no-audit --no-fund --loglevel=error >"$WORK/npm-ci.log" 2>&1) ||
	{ tail -5 "$WORK/npm-ci.log" >&2; die "npm ci in scripts/interop/node failed (see .data/interop/npm-ci.log)"; }

# a free port on 127.0.0.1
PORT=""
for ((i = 0; i < 200; i++)); do
	p=$((RANDOM % 20000 + 30000))
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		PORT=$p
		break
	fi
done
[ -n "$PORT" ] || die "no free port on 127.0.0.1"
KW=http://127.0.0.1:$PORT
ADMIN_ID=m2m_interop_admin
ADMIN_SECRET=kw_sk_$(head -c 24 /dev/urandom | base64 | tr -d '\n=' | tr '+/' '-_')
JWKS_MAX_AGE=2s

say "starting keyward serve on $KW (log .data/interop/keyward.log)"
KEYWARD_DATABASE_URL=$DB_URL KEYWARD_KEY_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64) \
	KEYWARD_BOOTSTRAP_CLIENT_ID=$ADMIN_ID KEYWARD_BOOTSTRAP_CLIENT_SECRET=$ADMIN_SECRET KEYWARD_LOG_LEVEL=warn \
	"$WORK/bin/keyward" serve --addr "127.0.0.1:$PORT" --issuer "$KW" \
	--jwks-max-age "$JWKS_MAX_AGE" --key-publish-lead 4s >"$WORK/keyward.log" 2>&1 &
KW_PID=$!
ready=0
for ((i = 0; i < 300; i++)); do
	if [ "$(curl -s --noproxy '*' -m 2 -o /dev/null -w '%{http_code}' "$KW/readyz" 2>/dev/null)" = 200 ]; then
		ready=1
		break
	fi
	kill -0 "$KW_PID" 2>/dev/null || { tail -5 "$WORK/keyward.log" >&2; die "keyward serve exited before it was ready"; }
	sleep 0.2
done
[ "$ready" = 1 ] || die "keyward did not answer 200 on $KW/readyz within 60 s"

export KEYWARD_URL=$KW KEYWARD_CLIENT_ID=$ADMIN_ID KEYWARD_CLIENT_SECRET=$ADMIN_SECRET
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# ---- node, go ----------------------------------------------------------------------------------------
rc=0
(cd scripts/interop/node && node interop.mjs) >"$WORK/node.out" 2>&1 || rc=$?
relay "$WORK/node.out"
if [ "$rc" != 0 ] && ! grep -q '^FAIL ' "$WORK/node.out"; then
	fail "node: interop.mjs" "exit $rc: $(tail -3 "$WORK/node.out" | tr '\n' ' ' | cut -c1-300)"
fi
rc=0
INTEROP_JWKS_MAX_AGE=$JWKS_MAX_AGE "$WORK/interop-go" >"$WORK/go.out" 2>&1 || rc=$?
relay "$WORK/go.out"
if [ "$rc" != 0 ] && ! grep -q '^FAIL ' "$WORK/go.out"; then
	fail "go: interop program" "exit $rc: $(tail -3 "$WORK/go.out" | tr '\n' ' ' | cut -c1-300)"
fi

# ---- the README's quickstart blocks, run as they are ---------------------------------------------------
# jwt_header TOKEN: the decoded JSON header of a JWT
jwt_header() {
	local h=${1%%.*}
	h=$(tr '_-' '/+' <<<"$h")
	while [ $((${#h} % 4)) != 0 ]; do h+="="; done
	base64 -d <<<"$h" 2>/dev/null
}
# run_block NAME MARKER CHECK: the README block in a bash -e script with KW, ADMIN_ID and ADMIN_SECRET
# set as scripts/dev.sh prints them, keyward on PATH and a scratch directory as the working directory;
# then CHECK (a function) reads its stdout ($WORK/MARKER.out) and its variables ($WORK/MARKER.vars)
run_block() {
	local name=$1 marker=$2 check=$3 block script=$WORK/$2.sh out=$WORK/$2.out why
	block=$(readme_block "$marker")
	if [ -z "$block" ]; then
		fail "$name" "README.md has no block marked <!-- interop: $marker -->"
		return
	fi
	{
		echo 'set -euo pipefail'
		printf 'KW=%q\nADMIN_ID=%q\nADMIN_SECRET=%q\n' "$KW" "$ADMIN_ID" "$ADMIN_SECRET"
		echo "$block"
		printf 'declare -p ADMIN_TOKEN ORG_ID CLIENT >%q 2>/dev/null || true\n' "$WORK/$marker.vars"
	} >"$script"
	rm -rf "$WORK/scratch" && mkdir -p "$WORK/scratch"
	if ! (cd "$WORK/scratch" && env -u KEYWARD_URL -u KEYWARD_CLIENT_ID -u KEYWARD_CLIENT_SECRET \
		PATH="$WORK/bin:$PATH" bash "$script") >"$out" 2>"$WORK/$marker.err"; then
		fail "$name" "the block failed: $(tail -3 "$WORK/$marker.err" | tr '\n' ' ' | cut -c1-300)"
		return
	fi
	if why=$("$check" "$out" "$WORK/$marker.vars"); then pass "$name"; else fail "$name" "$why"; fi
}
# var FILE NAME: a variable the block left
# shellcheck disable=SC1090 # a file the block wrote
var() { (. "$1" 2>/dev/null && printf '%s' "${!2:-}"); }
# a token response on the last line of the output, for a client in the organization the block made
check_token_out() {
	local tok hdr org
	tok=$(tail -1 "$1" | jq -r '.access_token // empty' 2>/dev/null || true)
	[ -n "$tok" ] || tok=$(tail -1 "$1")
	hdr=$(jwt_header "$tok")
	org=$(var "$2" ORG_ID)
	if ! jq -e '.typ == "at+jwt" and .alg == "RS256" and (.kid | length > 0)' <<<"$hdr" >/dev/null 2>&1; then
		echo "the last line yields no access token with typ at+jwt, alg RS256 and a kid: $(tail -1 "$1" | cut -c1-200)"
		return 1
	fi
	case $org in org_*) ;; *)
		echo "ORG_ID is '$org', not an organization id"
		return 1
		;;
	esac
}
check_curl() {
	case $(var "$2" ADMIN_TOKEN) in *.*.*) ;; *)
		echo "ADMIN_TOKEN is no JWT"
		return 1
		;;
	esac
	case $(var "$2" CLIENT) in m2m_*:kw_sk_*) ;; *)
		echo "CLIENT is not client_id:client_secret"
		return 1
		;;
	esac
	check_token_out "$@"
}
check_cli() {
	grep -q 'Acme Corp' "$1" || {
		echo "no table lists the organization Acme Corp"
		return 1
	}
	check_token_out "$@"
}
run_block "curl: the README quickstart, run as printed" quickstart-curl check_curl
run_block "cli: the README quickstart with the admin CLI instead of curl, run as printed" quickstart-cli check_cli

# ---- the README's client-signed token flows, and the demo API that accepts them ----------------------
# The four blocks run as one script after the quickstart's (they continue its ADMIN_TOKEN and ORG_ID),
# the demo API from the source tree, in a process group of its own that is stopped afterwards. The
# README signs with PyJWT: Debian's python3-jwt, installed when missing and root.
client_signed() {
	local name="client-signed: the README's RS256 and HS256 flows, introspection and the demo API, run as printed"
	local script=$WORK/client-signed.sh out=$WORK/client-signed.out err=$WORK/client-signed.err py=/usr/bin/python3 m block
	if ! "$py" -c 'import jwt' 2>/dev/null; then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
			{ DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-jwt ||
				{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-jwt; }; } \
				>/dev/null 2>&1 </dev/null || true
		fi
		"$py" -c 'import jwt' 2>/dev/null || { fail "$name" "PyJWT is not installed (sudo apt-get install python3-jwt)"; return; }
	fi
	mkdir -p "$WORK/pybin" && ln -sf "$py" "$WORK/pybin/python3"
	{
		echo 'set -euo pipefail'
		printf 'KW=%q\nADMIN_ID=%q\nADMIN_SECRET=%q\n' "$KW" "$ADMIN_ID" "$ADMIN_SECRET"
		for m in quickstart-curl client-signed-rs256 client-signed-hs256 client-signed-introspect; do
			block=$(readme_block "$m")
			[ -n "$block" ] || { fail "$name" "README.md has no block marked <!-- interop: $m -->"; return; }
			echo "$block"
		done
		printf 'printf "\\n@@demo\\n"\ncd %q\n' "$ROOT"
		block=$(readme_block client-signed-demo-api)
		[ -n "$block" ] || { fail "$name" "README.md has no block marked <!-- interop: client-signed-demo-api -->"; return; }
		echo "$block"
	} >"$script"
	rm -rf "$WORK/scratch" && mkdir -p "$WORK/scratch"
	local rc=0 pid
	# setsid: the script leads a process group of its own, which takes the demo API with it below
	(cd "$WORK/scratch" && exec env -u KEYWARD_URL -u KEYWARD_CLIENT_ID -u KEYWARD_CLIENT_SECRET \
		PATH="$WORK/bin:$WORK/pybin:$PATH" setsid bash "$script") >"$out" 2>"$err" &
	pid=$!
	wait "$pid" || rc=$?
	kill -TERM -- "-$pid" 2>/dev/null || true
	if [ "$rc" != 0 ]; then
		fail "$name" "the blocks failed ($rc): $(tail -3 "$err" | tr '\n' ' ' | cut -c1-300)"
		return
	fi
	local intro demo
	# curl prints the answers without newlines between them: count occurrences, not lines
	intro=$(sed -n '/^@@demo$/q;p' "$out")
	demo=$(sed -n '/^@@demo$/,$p' "$out" | { grep -o '"kind":"client_signed_jwt"' || true; } | wc -l)
	if [ "$({ grep -o '"active":true' <<<"$intro" || true; } | wc -l)" != 2 ] || ! grep -q '"active":false,"keyward_reason"' <<<"$intro"; then
		fail "$name" "introspection did not answer active, active, then inactive with a reason: $(tr '\n' ' ' <<<"$intro" | cut -c1-300)"
	elif [ "$demo" != 2 ]; then
		fail "$name" "the demo API did not accept both tokens: $(sed -n '/^@@demo$/,$p' "$out" | tr '\n' ' ' | cut -c1-300)"
	else
		pass "$name"
	fi
}
client_signed

# ---- the served OpenAPI document ---------------------------------------------------------------------
if curl -sSf --noproxy '*' -m 10 "$KW/api/openapi.yaml" -o "$WORK/openapi.yaml" 2>"$WORK/openapi.err" &&
	cmp -s "$WORK/openapi.yaml" api/openapi.yaml; then
	pass "openapi: GET /api/openapi.yaml serves api/openapi.yaml"
else
	fail "openapi: GET /api/openapi.yaml serves api/openapi.yaml" "$(cat "$WORK/openapi.err")$(cmp "$WORK/openapi.yaml" api/openapi.yaml 2>&1 | head -1)"
fi

if ! kill -0 "$KW_PID" 2>/dev/null; then
	fail "keyward: still running after the checks" "it exited; see .data/interop/keyward.log"
fi
echo "interop: took $((SECONDS - T0))s"
echo "interop: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
