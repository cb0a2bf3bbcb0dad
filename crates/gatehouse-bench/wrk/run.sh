#!/bin/sh
# HTTP decisions from wrk against the shipped `gatehouse` binary, as a user runs it.
#
#   crates/gatehouse-bench/wrk/run.sh [RUNS] [DURATION]        # defaults: 2 runs of 20s
#
# Builds `--release` (the profile every README figure is measured with), seeds the decide
# benchmark's community into a fresh data directory (`gatehouse-bench wrk-seed`), starts
# `target/release/gatehouse serve` on it with a bootstrap token of its own, runs
# `wrk -t2 -c64 --latency` RUNS times with `decide.lua`, stops the server (SIGTERM) and checks
# the access log's hash chain with `gatehouse audit verify`. Prints the load average beside
# every run. WRK_THREADS, WRK_CONNECTIONS, GATEHOUSE_LISTEN, GATEHOUSE_MQTT_LISTEN and
# GATEHOUSE_DATABASE_URL (PostgreSQL) are honoured; CARGO_TARGET_DIR too. GATEHOUSE_BENCH_BIN
# names a gatehouse-bench already built (say with --features peers) to seed with instead of
# building one: the seed is not measured.
set -eu

runs=${1:-2}
duration=${2:-20s}
threads=${WRK_THREADS:-2}
connections=${WRK_CONNECTIONS:-64}
listen=${GATEHOUSE_LISTEN:-127.0.0.1:18080}
export GATEHOUSE_MQTT_LISTEN="${GATEHOUSE_MQTT_LISTEN:-127.0.0.1:18883}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}

command -v wrk >/dev/null || { echo "wrk is not installed (Debian: apt-get install wrk)" >&2; exit 1; }
cd "$root"
cargo build --release --bin gatehouse
bench=${GATEHOUSE_BENCH_BIN:-}
if [ -z "$bench" ]; then
  cargo build --release -p gatehouse-bench
  bench="$target/release/gatehouse-bench"
fi
dir=$(mktemp -d -t gatehouse-wrk.XXXXXX)
"$bench" wrk-seed --data-dir "$dir" >"$dir/seed.txt"
head -2 "$dir/seed.txt"

GATEHOUSE_BOOTSTRAP_TOKEN="ghb_$(head -c 24 /dev/urandom | base64 | tr -d '+/=')"
export GATEHOUSE_BOOTSTRAP_TOKEN
# Logs go to a file, as a service's would (journald, a file): not to a terminal wrk shares.
"$target/release/gatehouse" serve --data-dir "$dir" --listen "$listen" 2>"$dir/server.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if curl -fsS "http://$listen/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "http://$listen/readyz" >/dev/null
# The first decision loads and compiles the tenant's policy; a short warm-up after it.
wrk -t"$threads" -c"$connections" -d3s -s "$here/decide.lua" "http://$listen" -- "$dir/wrk-bodies.txt" >/dev/null

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
for run in $(seq 1 "$runs"); do
  echo "run $run of $runs, commit $commit, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$here/decide.lua" "http://$listen" -- "$dir/wrk-bodies.txt"
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
done

kill -TERM "$server"
wait "$server" || true
trap - EXIT
"$target/release/gatehouse" audit verify --data-dir "$dir" --tenant bench
echo "data directory (server log, database): $dir"
