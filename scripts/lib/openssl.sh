# shellcheck shell=bash
# shellcheck disable=SC2034 # KEYWARD_GO_TAGS and KEYWARD_OPENSSL_MISSING are for the scripts that source this
# Sourced by the scripts that build or test keyward: whether Go can build keyward's native RS256
# signer here (`-tags openssl`: internal/signer signs through OpenSSL 3's libcrypto with cgo, three
# to four times faster than crypto/rsa). That needs cgo, a C compiler and OpenSSL 3's headers and
# libcrypto (Debian: gcc and libssl-dev); the probe compiles and links a few lines against them.
#
#   keyward_openssl check|install
#       sets KEYWARD_GO_TAGS to (-tags openssl) when the native signer builds here; otherwise to ()
#       and KEYWARD_OPENSSL_MISSING to why not and how to get it, for the caller's one line. With
#       install, as root where apt-get is, it first installs what is missing (gcc, libc6-dev,
#       libssl-dev; log .data/apt-openssl.log), as scripts/lib/postgres.sh installs PostgreSQL.
#
# KEYWARD_OPENSSL=0 in the environment builds pure Go without probing.
KEYWARD_GO_TAGS=()
KEYWARD_OPENSSL_MISSING=""

# _kw_openssl_probe: 0 when the native signer builds; else 1 with the reason in KEYWARD_OPENSSL_MISSING
_kw_openssl_probe() {
	local cc dir rc=0
	if [ "$(go env CGO_ENABLED 2>/dev/null)" != 1 ]; then
		KEYWARD_OPENSSL_MISSING="cgo is off (no C compiler, or CGO_ENABLED=0)"
		return 1
	fi
	cc=$(go env CC 2>/dev/null)
	# shellcheck disable=SC2086 # CC may carry flags, as Go splits it
	if ! command -v ${cc%% *} >/dev/null 2>&1; then
		KEYWARD_OPENSSL_MISSING="no C compiler ($cc)"
		return 1
	fi
	dir=$(mktemp -d)
	printf '%s\n' '#include <openssl/evp.h>' '#if OPENSSL_VERSION_MAJOR < 3' '#error OpenSSL 3 is needed' '#endif' \
		'int main(void) { EVP_PKEY_CTX_free(EVP_PKEY_CTX_new_from_pkey(NULL, NULL, NULL)); return 0; }' >"$dir/probe.c"
	# shellcheck disable=SC2086
	$cc "$dir/probe.c" -o "$dir/probe" -lcrypto >/dev/null 2>&1 || rc=$?
	rm -rf "$dir"
	if [ "$rc" != 0 ]; then
		KEYWARD_OPENSSL_MISSING="no OpenSSL 3 headers and libcrypto to link with"
		return 1
	fi
	KEYWARD_OPENSSL_MISSING=""
}

keyward_openssl() {
	KEYWARD_GO_TAGS=()
	if [ "${KEYWARD_OPENSSL:-}" = 0 ]; then
		KEYWARD_OPENSSL_MISSING="KEYWARD_OPENSSL=0 is set"
		return 0
	fi
	if _kw_openssl_probe; then
		KEYWARD_GO_TAGS=(-tags openssl)
		return 0
	fi
	if [ "${1:-}" = install ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		local log=${ROOT:-.}/.data/apt-openssl.log
		mkdir -p "$(dirname "$log")"
		echo "keyward: $KEYWARD_OPENSSL_MISSING: installing gcc and libssl-dev with apt-get for the native RS256 signer (log ${log#"${ROOT:-.}"/})" >&2
		if ! {
			DEBIAN_FRONTEND=noninteractive apt-get update &&
				DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev libssl-dev
		} >"$log" 2>&1 </dev/null; then
			KEYWARD_OPENSSL_MISSING="apt-get install gcc libssl-dev failed (see ${log#"${ROOT:-.}"/})"
		elif _kw_openssl_probe; then
			KEYWARD_GO_TAGS=(-tags openssl)
			return 0
		fi
	fi
	if command -v apt-get >/dev/null 2>&1; then
		KEYWARD_OPENSSL_MISSING="$KEYWARD_OPENSSL_MISSING; for the native RS256 signer (libcrypto, 3-4x faster): sudo apt-get install gcc libssl-dev"
	else
		KEYWARD_OPENSSL_MISSING="$KEYWARD_OPENSSL_MISSING; for the native RS256 signer (libcrypto, 3-4x faster): install a C compiler and OpenSSL 3's headers"
	fi
}
