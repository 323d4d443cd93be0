# shellcheck shell=bash
# shellcheck disable=SC2154 # bench.sh's variables, listed below
# Sourced by scripts/bench.sh: the RS256 comparison of issue 11, on keyward's core (core 0), load on
# core 1. The contenders, each in every round:
#   - the RS256 ceiling of each signer, a tight loop on one goroutine (keyward-bench sign): crypto/rsa,
#     and libcrypto through cgo (internal/signer built with -tags openssl);
#   - token requests/s of each build of keyward (client_secret_basic, one client, -c connections):
#     the pure-Go build and the openssl build, two replicas on the bench's database;
#   - token requests/s of a bare net/http token endpoint (keyward-bench bare-token) for the same
#     client, signing with the signer keyward was built with: no router, middleware, limits, logs or
#     cache, the ceiling of any Go token endpoint on this core with that signer;
#   - with --peer node-oidc, panva's oidc-provider (scripts/bench/node-oidc: the version its lock file
#     pins, installed with npm ci) issuing RS256 JWT access tokens the same way, checked first: its
#     token must verify against its JWKS (keyward-bench verify, crypto/rsa alone).
# The servers all run pinned to core 0, and every one but the one measured is stopped (SIGSTOP), so
# that its timers and collector take nothing from the others. Rounds alternate the order of the
# contenders; the report gives each one's median, and each ratio as the median of its per-round
# ratios (both sides measured minutes apart at most, on a machine whose load comes and goes).
#
# Uses bench.sh's ROOT BIN DB_URL KEK ADMIN_ID ADMIN_SECRET BASE KW_PID KB SERVER_CPU CONC DURATION
# SIGN_FOR ROUNDS PEER IMPL PIDS, and its say, field and forget.

# cmp_start_keyward BINARY LOG: another replica of keyward on keyward's core; sets CMP_PID and CMP_URL
cmp_start_keyward() {
	local p=$((port + 1)) i
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	KEYWARD_DATABASE_URL=$DB_URL KEYWARD_KEY_ENCRYPTION_KEY=$KEK \
		KEYWARD_BOOTSTRAP_CLIENT_ID=$ADMIN_ID KEYWARD_BOOTSTRAP_CLIENT_SECRET=$ADMIN_SECRET \
		KEYWARD_LOG_LEVEL=warn \
		"${SERVER_CPU[@]}" "$1" serve --addr "127.0.0.1:$p" --issuer "$BASE" 2>"$2" &
	CMP_PID=$!
	PIDS+=("$CMP_PID")
	CMP_URL=http://127.0.0.1:$p
	for ((i = 0; i < 150; i++)); do
		curl -fsS -o /dev/null "$CMP_URL/readyz" 2>/dev/null && return 0
		sleep 0.2
	done
	say "$1 did not get ready; see $2"
	exit 1
}

# cmp_start_bare CLIENT_ID CLIENT_SECRET: keyward-bench's bare token endpoint on keyward's core,
# signing with the signer keyward was built with; sets BARE_TOKEN_PID and BARE_TOKEN_URL
cmp_start_bare() {
	local out=$BIN/bare-token.out i
	: >"$out"
	"${SERVER_CPU[@]}" "$BIN/keyward-bench" bare-token -impl "$IMPL" -client-id "$1" -client-secret "$2" \
		-url "$BASE" >"$out" 2>"$BIN/bare-token.log" &
	BARE_TOKEN_PID=$!
	PIDS+=("$BARE_TOKEN_PID")
	for ((i = 0; i < 50; i++)); do grep -q listening "$out" 2>/dev/null && break; sleep 0.1; done
	BARE_TOKEN_URL=$(field listening <"$out")
	[ -n "$BARE_TOKEN_URL" ] || { say "the bare token endpoint did not start; see $BIN/bare-token.log"; exit 1; }
}

# cmp_start_node CLIENT_ID CLIENT_SECRET: oidc-provider on keyward's core; sets NODE_PID, NODE_URL, NODE_DESC
cmp_start_node() {
	local dir=$ROOT/scripts/bench/node-oidc p=$((port + 20)) out=$BIN/node-oidc.out i
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		say "--peer node-oidc needs Node.js 20.19 or later with npm"
		exit 1
	fi
	node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
		{ say "--peer node-oidc: Node.js $(node --version) is too old for oidc-provider 9 (20.19 or later)"; exit 1; }
	if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.package-lock.json" 2>/dev/null; then
		say "npm ci in scripts/bench/node-oidc (oidc-provider, as its lock file pins it)"
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >"$BIN/npm-ci.log" 2>&1) ||
			{ tail -5 "$BIN/npm-ci.log" >&2; say "npm ci in scripts/bench/node-oidc failed (see $BIN/npm-ci.log)"; exit 1; }
	fi
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	: >"$out"
	PORT=$p CLIENT_ID=$1 CLIENT_SECRET=$2 NODE_ENV=production \
		"${SERVER_CPU[@]}" node "$dir/server.mjs" >"$out" 2>"$BIN/node-oidc.log" &
	NODE_PID=$!
	PIDS+=("$NODE_PID")
	for ((i = 0; i < 100; i++)); do grep -q listening "$out" 2>/dev/null && break; sleep 0.1; done
	NODE_URL=$(field listening <"$out")
	[ -n "$NODE_URL" ] || { say "oidc-provider did not start; see $BIN/node-oidc.log"; exit 1; }
	NODE_DESC="node-oidc-provider $(field oidc-provider <"$out") (Node.js $(field node <"$out"))"
}

# cmp_check_token NAME URL CLIENT_ID CLIENT_SECRET: a token from URL verifies against URL's JWKS
cmp_check_token() {
	local tok checked
	tok=$(curl -fsS -u "$3:$4" -d grant_type=client_credentials "$2/oauth/token" | field access_token) ||
		{ say "$1: no token from $2/oauth/token"; exit 1; }
	checked=$("$BIN/keyward-bench" verify -token "$tok" -jwks "$2/.well-known/jwks.json") ||
		{ say "$1: its token does not verify against its JWKS"; exit 1; }
	say "$1: its RS256 token verifies against its JWKS ($(field modulus_bits <<<"$checked")-bit key, typ $(field typ <<<"$checked"))"
}

_cmp_median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
_cmp_num() {
	awk -v n="$1" 'BEGIN { s = sprintf("%.0f", n); t = ""
		while (length(s) > 3) { t = "," substr(s, length(s) - 2) t; s = substr(s, 1, length(s) - 3) }
		print s t }'
}
# _cmp_col NAME FIELD: FIELD of each of NAME's runs, one a line, in round order
_cmp_col() { while read -r r; do field "$2" <<<"$r"; done <"$BIN/cmp.$1.runs"; }
# _cmp_ratios A B: A's per_second over B's, round by round
_cmp_ratios() { paste <(_cmp_col "$1" per_second) <(_cmp_col "$2" per_second) | awk '{ printf "%.2f\n", ($2 > 0 ? $1 / $2 : 0) }'; }

compare_signers() {
	local names=() kinds=() go_pid go_url ossl_pid ossl_url one cid csec r i n idx name kind
	say "RS256 comparison, $ROUNDS rounds"
	rm -f "$BIN"/cmp.*.runs # an earlier run's
	# Each build in a replica of its own, started now: the bench's keyward has just filled its
	# client cache, so its collector works harder than a fresh process's (see the README), and the
	# builds must start even. The bench's keyward is stopped meanwhile.
	if [ "$IMPL" = openssl ]; then
		say "building the pure-Go keyward; starting both builds beside the bench's keyward"
		go build -o "$BIN/keyward-go" ./cmd/keyward
		cmp_start_keyward "$BIN/keyward-go" "$BIN/keyward-go.log"
		go_pid=$CMP_PID go_url=$CMP_URL
		cmp_start_keyward "$BIN/keyward" "$BIN/keyward-openssl.log"
		ossl_pid=$CMP_PID ossl_url=$CMP_URL
	else
		cmp_start_keyward "$BIN/keyward" "$BIN/keyward-go.log"
		go_pid=$CMP_PID go_url=$CMP_URL
	fi
	one=$("${KB[@]}" setup -url "$BASE" -admin-id "$ADMIN_ID" -admin-secret "$ADMIN_SECRET" -clients 1)
	cid=$(field client_id <<<"$one") csec=$(field client_secret <<<"$one")

	names+=(sign_go) kinds+=("sign go")
	[ "$IMPL" != openssl ] || { names+=(sign_openssl) kinds+=("sign openssl"); }
	names+=(token_go) kinds+=("token $go_pid $go_url")
	cmp_check_token "keyward, pure-Go build" "$go_url" "$cid" "$csec"
	if [ "$IMPL" = openssl ]; then
		names+=(token_openssl) kinds+=("token $ossl_pid $ossl_url")
		cmp_check_token "keyward, openssl build" "$ossl_url" "$cid" "$csec"
	fi
	cmp_start_bare "$cid" "$csec"
	names+=(token_bare) kinds+=("token $BARE_TOKEN_PID $BARE_TOKEN_URL")
	cmp_check_token "the bare token endpoint" "$BARE_TOKEN_URL" "$cid" "$csec"
	NODE_DESC=""
	if [ "$PEER" = node-oidc ]; then
		cmp_start_node "$cid" "$csec"
		names+=(token_node) kinds+=("token $NODE_PID $NODE_URL")
		cmp_check_token "$NODE_DESC" "$NODE_URL" "$cid" "$csec"
	fi

	# every server stopped but the one measured
	kill -STOP "$KW_PID"
	for kind in "${kinds[@]}"; do
		# shellcheck disable=SC2086 # the kind's words
		set -- $kind
		[ "$1" != token ] || kill -STOP "$2"
	done
	n=${#names[@]}
	for ((r = 0; r < ROUNDS; r++)); do
		say "round $((r + 1)) of $ROUNDS"
		for ((i = 0; i < n; i++)); do
			idx=$(((i + r) % n)) # each round starts one contender later
			name=${names[$idx]}
			# shellcheck disable=SC2086 # the kind's words
			set -- ${kinds[$idx]}
			case $1 in
			sign) "${SERVER_CPU[@]}" "$BIN/keyward-bench" sign -impl "$2" -d "$SIGN_FOR" >>"$BIN/cmp.$name.runs" ;;
			token)
				kill -CONT "$2"
				"${KB[@]}" token -url "$3" -c "$CONC" -d "$DURATION" -client-id "$cid" -client-secret "$csec" >>"$BIN/cmp.$name.runs"
				kill -STOP "$2"
				;;
			esac
		done
	done
	for kind in "${kinds[@]}"; do
		# shellcheck disable=SC2086 # the kind's words
		set -- $kind
		[ "$1" != token ] || kill -CONT "$2"
	done
	kill -CONT "$KW_PID"
	kill "$BARE_TOKEN_PID" 2>/dev/null || true
	wait "$BARE_TOKEN_PID" 2>/dev/null || true
	forget "$BARE_TOKEN_PID"
	if [ -n "$NODE_DESC" ]; then
		kill "$NODE_PID" 2>/dev/null || true
		wait "$NODE_PID" 2>/dev/null || true
		forget "$NODE_PID"
	fi
	cmp_report "${names[@]}"
}

# cmp_ratio A B TEXT [TARGET]: the median of A/B over the rounds, against TARGET (at least)
cmp_ratio() {
	local rs m verdict=""
	[ -s "$BIN/cmp.$1.runs" ] && [ -s "$BIN/cmp.$2.runs" ] || return 0
	rs=$(_cmp_ratios "$1" "$2")
	m=$(_cmp_median <<<"$rs")
	if [ -n "${4:-}" ]; then
		if awk -v m="$m" -v t="$4" 'BEGIN { exit !(m >= t) }'; then verdict="  target ≥ $4: met"; else verdict="  target ≥ $4: NOT met"; fi
	fi
	printf '  %-58s %5.2f  [%s]%s\n' "$3" "$m" "$(paste -sd' ' <<<"$rs")" "$verdict"
}

# cmp_report NAMES...: the table and the ratios
cmp_report() {
	local name label p50s p99s tails fmt='| %-60s | %9s | %7s | %7s | %6s | %s |\n'
	echo
	echo "RS256 on one core, $(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
		"($(nproc) cores; every contender on core 0, load on core 1; the servers not measured SIGSTOPped)"
	echo "$ROUNDS rounds in alternating order; token loads: client_secret_basic, one client, -c $CONC, -d $DURATION; tight loops -d $SIGN_FOR"
	echo
	# shellcheck disable=SC2059
	printf "$fmt" contender "median/s" "p50 ms" "p99 ms" errors "each round (/s)"
	echo "|---|---:|---:|---:|---:|---|"
	for name in "$@"; do
		case $name in
		sign_go) label="tight loop: crypto/rsa signatures" ;;
		sign_openssl) label="tight loop: libcrypto signatures (cgo, $(field signer <"$BIN/cmp.sign_openssl.runs" | head -1))" ;;
		token_go) label="token, keyward pure-Go build (crypto/rsa)" ;;
		token_openssl) label="token, keyward openssl build (libcrypto)" ;;
		token_node) label="token, $NODE_DESC" ;;
		token_bare) label="token, bare net/http endpoint ($IMPL signer; keyward-bench bare-token)" ;;
		esac
		p50s="" p99s=""
		if [[ $name == token_* ]]; then
			p50s=$(printf '%.1f' "$(_cmp_col "$name" p50_ms | _cmp_median)") p99s=$(printf '%.1f' "$(_cmp_col "$name" p99_ms | _cmp_median)")
		fi
		# shellcheck disable=SC2059
		printf "$fmt" "$label" "$(_cmp_num "$(_cmp_col "$name" per_second | _cmp_median)")" "$p50s" "$p99s" \
			"$([[ $name != token_* ]] || _cmp_col "$name" errors | awk '{ s += $1 } END { print s }')" \
			"$(for v in $(_cmp_col "$name" per_second); do _cmp_num "$v"; done | paste -sd' ')"
	done
	echo
	echo "ratios, each the median of its per-round ratios (the rounds' ratios in brackets):"
	cmp_ratio token_openssl sign_openssl "openssl build token/s / libcrypto signatures/s" 0.80
	cmp_ratio token_openssl token_node "openssl build token/s / node-oidc-provider token/s" 1.6
	cmp_ratio token_go sign_go "pure-Go build token/s / crypto/rsa signatures/s" 0.90
	cmp_ratio token_openssl token_go "openssl build token/s / pure-Go build token/s"
	cmp_ratio sign_openssl sign_go "libcrypto signatures/s / crypto/rsa signatures/s"
	cmp_ratio token_go token_node "pure-Go build token/s / node-oidc-provider token/s"
	if [ "$IMPL" = openssl ]; then
		cmp_ratio token_openssl token_bare "openssl build token/s / bare endpoint token/s"
		cmp_ratio token_bare sign_openssl "bare endpoint token/s / libcrypto signatures/s"
	else
		cmp_ratio token_go token_bare "pure-Go build token/s / bare endpoint token/s"
		cmp_ratio token_bare sign_go "bare endpoint token/s / crypto/rsa signatures/s"
	fi
	cmp_ratio token_bare token_node "bare endpoint token/s / node-oidc-provider token/s"
	for name in token_openssl token_go token_node; do
		[ -s "$BIN/cmp.$name.runs" ] || continue
		tails=$(paste <(_cmp_col "$name" p99_ms) <(_cmp_col "$name" p50_ms) | awk '{ printf "%.1f\n", ($2 > 0 ? $1 / $2 : 0) }')
		printf '  %-58s %5.1f  [%s]%s\n' "${name#token_} token p99 / p50" "$(_cmp_median <<<"$tails")" "$(paste -sd' ' <<<"$tails")" \
			"$(awk -v m="$(_cmp_median <<<"$tails")" 'BEGIN { print (m <= 3 ? "  target ≤ 3: met" : "  target ≤ 3: NOT met") }')"
	done
}
