#!/usr/bin/env bash
# scripts/vulncheck.sh: govulncheck ./... against a Go vulnerability database built offline.
#
# vuln.go.dev may be out of reach (it is from our CI), so the database is built from the
# golang.org/x/vulndb module, fetched through the Go module proxy like any dependency, with its own
# gendb command, and cached in .data/vulndb. Bump VULNDB to take newer reports.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/toolchain.sh
. "$ROOT/scripts/lib/toolchain.sh"

VULNDB=v0.0.0-20261105234957-e22db6528018
GOVULNCHECK=v1.1.4
DB=$ROOT/.data/vulndb/$VULNDB

if [ ! -f "$DB/index/db.json" ]; then
	echo "vulncheck: building the vulnerability database from golang.org/x/vulndb@$VULNDB" >&2
	src=$(go mod download -json "golang.org/x/vulndb@$VULNDB" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -d "$src/data/osv" ] || { echo "vulncheck: golang.org/x/vulndb@$VULNDB has no data/osv" >&2; exit 1; }
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	# gendb reads a git repository: give it one holding the module's data
	cp -r "$src/data" "$work/data"
	chmod -R u+w "$work"
	git -C "$work" init -q
	git -C "$work" add -A
	git -C "$work" -c user.name=keyward -c user.email=keyward@localhost commit -qm "vulndb $VULNDB"
	rm -rf "$DB.tmp"
	mkdir -p "$(dirname "$DB")"
	go run "golang.org/x/vulndb/cmd/gendb@$VULNDB" -repo "$work" -out "$DB.tmp" >/dev/null 2>&1 ||
		{ echo "vulncheck: gendb failed" >&2; exit 1; }
	mv "$DB.tmp" "$DB"
fi
echo "vulncheck: govulncheck@$GOVULNCHECK with $(go env GOVERSION), database golang.org/x/vulndb@$VULNDB" >&2
exec go run "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK" -db "file://$DB" ./...
