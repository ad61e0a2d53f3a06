#!/usr/bin/env bash
# portal.sh builds the web admin portal from web/ into internal/portal/dist,
# where `go build` embeds it: npm ci (exactly package-lock.json), the unit
# tests of its pure logic (node --test), then esbuild. Without this step the
# binary serves a page that says the portal is not built.
set -euo pipefail
cd "$(dirname "$0")/../web"
command -v npm >/dev/null || { echo "portal: npm is missing (scripts/host-setup.sh installs Node.js)" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error
npm test --silent
npm run build --silent
