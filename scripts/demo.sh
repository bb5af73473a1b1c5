#!/usr/bin/env bash
# The demo: builds streamll, starts a throwaway redis-server on a free loopback port (or uses
# REDIS_URL when set), runs the instrumented RAG pipeline example into it with the terminal
# sink on, then reads back what arrived in the stream, the way the guide's consumers do, and
# with the streamll CLI (usage statistics and a health check).
#
#   scripts/demo.sh [--runs N]     (default 3; any other rag_pipeline option passes through)
#   scripts/demo.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

scripts/deps.sh
build=build/demo
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTREAMLL_BUILD_TESTS=OFF \
  -DSTREAMLL_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target rag_pipeline streamll_cli >/dev/null

workdir=$(mktemp -d)
redis_pid=
cleanup() {
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$workdir"
}
trap cleanup EXIT

if [ -z "${REDIS_URL:-}" ]; then
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$workdir" \
    --logfile "$workdir/redis.log" &
  redis_pid=$!
  ready=0
  for _ in $(seq 100); do
    if redis-cli -p "$port" ping >/dev/null 2>&1; then ready=1; break; fi
    kill -0 "$redis_pid" 2>/dev/null || break  # exited: no point waiting
    sleep 0.05
  done
  if [ "$ready" -ne 1 ]; then
    echo "demo: redis-server did not start on 127.0.0.1:$port; its log:" >&2
    cat "$workdir/redis.log" >&2 || true
    exit 1
  fi
  export REDIS_URL="redis://127.0.0.1:$port"
  echo "demo: started a throwaway redis-server at $REDIS_URL"
fi
export STREAMLL_STREAM_KEY="${STREAMLL_STREAM_KEY:-ml_events}"

args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--runs 3)
"$build/examples/rag_pipeline" --terminal "${args[@]}"

echo
echo "demo: what a consumer reads back from stream '$STREAMLL_STREAM_KEY' (the guide's Python code):"
/usr/bin/python3 - <<'PY'
import collections, json, os, redis
r = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
key = os.environ["STREAMLL_STREAM_KEY"]
entries = r.xrange(key, "-", "+")
types = collections.Counter(json.loads(fields["event"])["event_type"] for _, fields in entries)
print(f"  XLEN {key} = {r.xlen(key)}")
print("  events by type: " + ", ".join(f"{t}={n}" for t, n in sorted(types.items())))
calls = [json.loads(f["event"]) for _, f in entries if json.loads(f["event"])["event_type"] == "llm_call"]
if calls:
    d = calls[-1]["data"]
    print(f"  last llm_call: model={d['model']} tokens_used={d['tokens_used']} "
          f"cost_usd={d['cost_usd']} response_time_ms={d['response_time_ms']:.1f} ttft_ms={d.get('ttft_ms', 0):.1f}")
PY

echo
echo "demo: the same stream through streamll's own tools (streamll stats, streamll health):"
"$build/streamll" stats --since 1h || true
"$build/streamll" health || true
