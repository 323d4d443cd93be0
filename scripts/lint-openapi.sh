#!/usr/bin/env bash
# scripts/lint-openapi.sh: lint api/openapi.yaml with Redocly CLI.
#
# Redocly CLI is installed with `npm ci` into scripts/openapi-lint/ from its committed
# package-lock.json (node_modules there is ignored by git); the rules, with the few switched off and
# why, are in scripts/openapi-lint/redocly.yaml (recommended-strict: every warning is an error).
# Needs Node.js 20.19 or later with npm. Exits with the linter's status: 0 only without a problem.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LINT=$ROOT/scripts/openapi-lint

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "lint-openapi: Node.js and npm are not installed (Node.js 20.19 or later)" >&2
	exit 1
fi
mkdir -p "$ROOT/.data"
if ! (cd "$LINT" && npm ci --no-audit --no-fund --loglevel=error) >"$ROOT/.data/npm-openapi-lint.log" 2>&1; then
	tail -5 "$ROOT/.data/npm-openapi-lint.log" >&2
	echo "lint-openapi: npm ci in scripts/openapi-lint failed (see .data/npm-openapi-lint.log)" >&2
	exit 1
fi

# no telemetry or update check: CI reaches only the package registries
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
exec "$LINT/node_modules/.bin/redocly" lint api/openapi.yaml --config "$LINT/redocly.yaml" --format=stylish
