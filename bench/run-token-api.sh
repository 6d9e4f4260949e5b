#!/usr/bin/env bash
# The HTTP benchmark of the token API (issue 5), with Redis GET as the
# reference that services would otherwise read tokens from, on this machine.
#
# It starts bench/stack (WeChat's emulator with N pre-authorized accounts and
# the wxtoken service wired as `wxtoken serve` wires it, sealed SQLite store),
# waits until every account's token is served, loads
# GET /v1/authorizers/{appid}/token with bench/http (keep-alive connections,
# requests spread over all N appids), stops the service, then runs
# redis-benchmark -t get against the local Redis with as many connections.
# With wrk installed it also cross-checks the figure with wrk.
#
#   bench/run-token-api.sh
#   AUTHORIZERS=1000 DURATION=5s bench/run-token-api.sh
#
# Environment (defaults): AUTHORIZERS (10000), CONNECTIONS (64),
# DURATION (10s), WARMUP (2s), LOG_LEVEL (info: the service's default, which
# logs every token handed out), REDIS_HOST (127.0.0.1), REDIS_PORT (6379),
# REDIS_REQUESTS (200000), WRK (auto: run wrk if it is installed; 0: never).
set -euo pipefail
cd "$(dirname "$0")/.."

authorizers=${AUTHORIZERS:-10000}
connections=${CONNECTIONS:-64}
duration=${DURATION:-10s}
warmup=${WARMUP:-2s}
log_level=${LOG_LEVEL:-info}
redis_host=${REDIS_HOST:-127.0.0.1}
redis_port=${REDIS_PORT:-6379}
redis_requests=${REDIS_REQUESTS:-200000}
use_wrk=${WRK:-auto}

work=$(mktemp -d)
stack_pid=
stop_stack() {
	if [[ -n $stack_pid ]]; then
		kill "$stack_pid" 2>/dev/null || true
		wait "$stack_pid" 2>/dev/null || true
		stack_pid=
	fi
}
trap 'stop_stack; rm -rf "$work"' EXIT

go build -o "$work/stack" ./bench/stack
go build -o "$work/loadgen" ./bench/http

echo "== machine"
echo "date     $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpu      $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "memory   $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "kernel   $(uname -sr)"
echo "go       $(go version | cut -d' ' -f3-)"
echo "redis    $(redis-server --version 2>/dev/null | grep -o 'v=[^ ]*' || echo '?')"
echo "load     $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min, before the run)"

echo
echo "== setup: $authorizers authorizers (log level $log_level)"
"$work/stack" -authorizers "$authorizers" -dir "$work" -log-level "$log_level" -log-file "$work/wxtoken.log" \
	-ready-file "$work/ready.env" -appids-out "$work/appids" >"$work/stack.out" 2>"$work/stack.err" &
stack_pid=$!
while [[ ! -s $work/ready.env ]]; do
	if ! kill -0 "$stack_pid" 2>/dev/null; then
		cat "$work/stack.err" >&2
		exit 1
	fi
	sleep 1
done
tail -n 1 "$work/stack.err"
# shellcheck disable=SC1091
. "$work/ready.env"

echo
echo "== wxtoken: bench/http -c $connections -d $duration -warmup $warmup -authorizers $authorizers"
"$work/loadgen" -url "$WXTOKEN_URL" -key "$WXTOKEN_BENCH_KEY" -appids "$work/appids" \
	-c "$connections" -d "$duration" -warmup "$warmup" -authorizers "$authorizers" -server-pid "$stack_pid"

if [[ $use_wrk != 0 ]] && command -v wrk >/dev/null; then
	echo
	echo "== wxtoken, cross-check: wrk -t2 -c$connections -d$duration --latency -s bench/wrk-token.lua"
	APPIDS="$work/appids" KEY="$WXTOKEN_BENCH_KEY" \
		wrk -t2 -c"$connections" -d"$duration" --latency -s bench/wrk-token.lua "$WXTOKEN_URL" |
		grep -E 'Latency Distribution|^ +(50|90|99)%|Requests/sec|Non-2xx|Socket errors'
fi
stop_stack

# cpu_ticks PID: user+system CPU of PID in clock ticks (USER_HZ), or nothing.
cpu_ticks() {
	[[ -r /proc/$1/stat ]] && sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

echo
echo "== Redis GET (reference): redis-benchmark -t get -c $connections -n $redis_requests -q"
redis_pid=$(redis-cli -h "$redis_host" -p "$redis_port" info server 2>/dev/null | tr -d '\r' | awk -F: '/^process_id:/ {print $2}')
before=$(cpu_ticks "$redis_pid" || true)
redis-benchmark -h "$redis_host" -p "$redis_port" -t get -c "$connections" -n "$redis_requests" -q 2>&1 |
	tr '\r' '\n' | grep 'requests per second'
after=$(cpu_ticks "$redis_pid" || true)
if [[ -n $before && -n $after ]]; then
	awk -v b="$before" -v a="$after" -v n="$redis_requests" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "  cpu      redis-server %.1f µs/request\n", (a - b) / hz * 1e6 / n }'
fi
