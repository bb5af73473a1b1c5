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

# Each step says what it does and about how long it takes before it starts, and how long it
# took after: on a fresh machine the first three take minutes with nothing else to show.
step_started=0
step() {
  echo "demo: $*" >&2
  step_started=$SECONDS
}
step_done() { echo "demo:   done in $((SECONDS - step_started)) s" >&2; }
# Runs a quiet step with its output in a log, shown only when it fails.
quietly() {
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    echo "demo: failed: $*; the last lines of $log:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}

step "checking the Debian packages (installing the missing ones takes 1-3 min on a fresh machine)"
scripts/deps.sh
step_done
build=build/demo
mkdir -p "$build"
jobs=$(nproc 2>/dev/null || echo 2)
step "configuring the build in $build (a few seconds)"
quietly "$build/configure.log" cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DSTREAMLL_BUILD_TESTS=OFF -DSTREAMLL_BUILD_EXAMPLES=ON
step_done
step "building the library, the demo pipeline and the streamll CLI with $jobs jobs" \
  "(about 3 min on 2 cores the first time, seconds after that)"
quietly "$build/build.log" cmake --build "$build" -j "$jobs" --target rag_pipeline streamll_cli
step_done

workdir=$(mktemp -d)
redis_pid=
cleanup() {
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$workdir"
}
trap cleanup EXIT

if [ -z "${REDIS_URL:-}" ]; then
  step "starting a throwaway redis-server (under a second)"
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
echo "demo: running the RAG pipeline example into $REDIS_URL with the terminal sink on (seconds):" >&2
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
