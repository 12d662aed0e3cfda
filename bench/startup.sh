#!/usr/bin/env bash
# Time from `portico serve` to /status/ready, first start (migrations + seeding) and warm start,
# and resident memory when idle. Usage: bench/startup.sh [path/to/portico]  (default .build/release/portico)
set -euo pipefail
BIN=${1:-.build/release/portico}
DIR=$(mktemp -d /tmp/portico-bench.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$DIR"' EXIT
start() {
  T0=$(date +%s%N)
  "$BIN" serve --data-dir "$DIR/data" --bind 127.0.0.1 >/dev/null 2>&1 &
  PID=$!
  until curl -fs http://127.0.0.1:8090/status/ready >/dev/null 2>&1; do sleep 0.005; done
  READY_MS=$(( ($(date +%s%N) - T0) / 1000000 ))
}
start
echo "first start to ready (migrations + seed): $READY_MS ms"
sleep 5
echo "idle resident memory: $(( $(ps -o rss= -p $PID) / 1024 )) MiB"
kill -TERM $PID; wait $PID; PID=""
for i in 1 2 3; do
  start
  echo "warm start to ready: $READY_MS ms"
  [ $i -eq 3 ] && { sleep 5; echo "idle resident memory after warm start: $(( $(ps -o rss= -p $PID) / 1024 )) MiB"; }
  kill -TERM $PID; wait $PID; PID=""
done
