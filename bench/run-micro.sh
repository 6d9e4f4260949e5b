#!/usr/bin/env bash
# The in-process benchmarks behind docs/benchmarks.md, in one run: message
# crypto, the emulator, the cached token read, the token handler, and refresh
# writes and change propagation of every store. Needs the local PostgreSQL and
# Redis for the store figures (skipped otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
export WXTOKEN_TEST_POSTGRES_URL="${WXTOKEN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
export WXTOKEN_TEST_REDIS_URL="${WXTOKEN_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
COUNT="${COUNT:-3}"
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(go version | cut -d' ' -f3), load $(cut -d' ' -f1-3 /proc/loadavg)"
run() { go test -run '^$' -benchmem -count "$COUNT" "$@" | grep -E '^(Benchmark|ok|FAIL)'; }
run -bench 'OpenPush' ./msgcrypt/
run -bench 'CachedAuthorizerToken' ./engine/
run -bench 'TokenHandler' ./server/
run -bench 'AuthorizerToken$|Startup' -benchtime 2s ./emulator/
run -bench 'PutAuthorizer|Refresh|WatchLatency' -benchtime 2s ./sqlite/ ./sealed/ ./postgres/ ./redis/
