#!/usr/bin/env bash
# Runs wxcas's whole test suite: unit, storage conformance on SQLite and
# MariaDB, WeChat/SMS fakes, real CAS clients (Apache mod_auth_cas,
# gopkg.in/cas.v2) and the browser end-to-end tests in headless Chromium.
# Installs and starts the services the tests need first (Debian, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh
go test -race -count=1 -timeout 14m "$@" ./...
