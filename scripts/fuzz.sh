#!/usr/bin/env bash
# scripts/fuzz.sh [BUDGET]: runs every Go fuzz target for BUDGET each: a number of executions
# such as 200000x (the default), or a duration such as 30s.
#
# The default is a count because Go 1.26's fuzzing coordinator can report a bare "context deadline
# exceeded" failure, with no failing input, when a duration's deadline races a busy worker
# (go.dev/issue/75804, fixed in Go 1.27); a count has no deadline. 200,000 executions take about
# 6 s for FuzzSign and 10-30 s for the parsers on a 2-core machine. Minimizing a new input is
# bounded to 10 s, so that it cannot stall a run for the default minute.
#
# The seed corpora live in testdata/fuzz/<Target> beside each package and run as plain tests in
# scripts/test.sh too. A failing input is written there by `go test -fuzz`: commit it with the fix.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/toolchain.sh
. "$ROOT/scripts/lib/toolchain.sh"
# shellcheck source=scripts/lib/openssl.sh
. "$ROOT/scripts/lib/openssl.sh"
BUDGET=${1:-200000x}

# the openssl build where it builds, so that internal/signer's FuzzSign reaches libcrypto
keyward_openssl check
[ ${#KEYWARD_GO_TAGS[@]} -gt 0 ] || echo "fuzz: FuzzSign fuzzes crypto/rsa, not libcrypto: $KEYWARD_OPENSSL_MISSING" >&2

# package and target, one per line: every func Fuzz... in a _test.go file
targets=$(grep -rl --include='*_test.go' '^func Fuzz' internal cmd | while read -r f; do
	sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$f" | while read -r fn; do echo "./$(dirname "$f") $fn"; done
done | sort)

failed=0
while read -r pkg fn; do
	[ -n "$pkg" ] || continue
	echo "fuzz: $fn in $pkg for $BUDGET"
	if ! go test ${KEYWARD_GO_TAGS[@]+"${KEYWARD_GO_TAGS[@]}"} -run='^$' -fuzz="^${fn}\$" -fuzztime="$BUDGET" \
		-fuzzminimizetime=10s "$pkg"; then
		failed=1
		echo "fuzz: $fn FAILED: the failing input is in $pkg/testdata/fuzz/$fn" >&2
	fi
done <<<"$targets"
exit "$failed"
