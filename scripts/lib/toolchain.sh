# shellcheck shell=bash
# Sourced by the scripts: builds and tests use Go 1.26.10 or later, the first release without the
# standard-library vulnerabilities govulncheck reports in 1.26.8 (net/http, crypto/tls, crypto/x509).
# An older local Go fetches that toolchain from the Go module proxy once (about 75 MB, seconds);
# GOTOOLCHAIN set by the caller wins.
KEYWARD_GO_TOOLCHAIN=go1.26.10
if [ -z "${GOTOOLCHAIN:-}" ] || [ "${GOTOOLCHAIN:-}" = local ] || [ "${GOTOOLCHAIN:-}" = auto ]; then
	if command -v go >/dev/null 2>&1; then
		_kw_local=$(GOTOOLCHAIN=local go env GOVERSION 2>/dev/null || true)
		# sort -V puts the older first: switch only when the local Go is older
		if [ "$(printf '%s\n%s\n' "${_kw_local#go}" "${KEYWARD_GO_TOOLCHAIN#go}" | sort -V | head -1)" != "${KEYWARD_GO_TOOLCHAIN#go}" ]; then
			export GOTOOLCHAIN=$KEYWARD_GO_TOOLCHAIN
		fi
		unset _kw_local
	fi
fi
