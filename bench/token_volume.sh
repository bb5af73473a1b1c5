#!/usr/bin/env bash
# Token volume per TokenMode: with `streamll emit`, 200 model calls that each stream a
# 1,000-token answer at 50 tokens/s go into a throwaway redis-server, once per mode. Prints, per
# answer, the stream entries and the bytes they take in Redis (MEMORY USAGE), and how long a
# stream trimmed to a million entries keeps llm_call history at 1,000 concurrent such streams,
# that is 50 answers a second; then once more with the tokens in a stream of their own
# (--token-stream), where the history is stream_key's. docs/performance.md quotes its output.
#
# Usage: bench/token_volume.sh [path to the streamll CLI, default build/bench/streamll]
set -euo pipefail
cd "$(dirname "$0")/.."
cli=${1:-build/bench/streamll}
[[ -x $cli ]] || { echo "token_volume.sh: no CLI at $cli (build it, or pass its path)" >&2; exit 2; }
workdir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$workdir" \
  --daemonize yes --pidfile "$workdir/redis.pid" --logfile "$workdir/redis.log"
trap 'kill "$(cat "$workdir/redis.pid")" 2>/dev/null; rm -rf "$workdir"' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

answer_tokens=1000
# 1,000 streams at 50 tokens/s: a token every 20 ms, 50 answers a second.
interval_ms=20
printf '%-34s %15s %13s %22s\n' mode "entries/answer" "bytes/answer" "llm_call history (1M)"
measure() {  # label, token events per answer, emit's mode options...
  local label=$1 per_answer_tokens=$2
  shift 2
  redis-cli -p "$port" del ml_events ml_tokens >/dev/null
  # Exactly 210 runs: 200 answers and 10 failed retrievals (every 20th run, 3 events each).
  local count=$(( 200 * (7 + per_answer_tokens) + 10 * 3 ))
  local summary entries token_entries bytes token_bytes
  summary=$("$cli" emit --url "redis://127.0.0.1:$port" --count "$count" "$@" \
    --tokens-per-call "$answer_tokens" --token-interval "${interval_ms}ms" --buffer-size 300000 \
    --no-progress --json)
  entries=$(redis-cli -p "$port" xlen ml_events)
  token_entries=$(redis-cli -p "$port" xlen ml_tokens)
  bytes=$(redis-cli -p "$port" memory usage ml_events samples 0)
  token_bytes=$(redis-cli -p "$port" memory usage ml_tokens samples 0)
  python3 - "$label" "$per_answer_tokens" "$entries" "$bytes" "$summary" "$token_entries" \
    "${token_bytes:-0}" <<'PY'
import json, sys
label, tokens, entries, used = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
summary = json.loads(sys.argv[5])
token_entries, token_used = int(sys.argv[6]), int(sys.argv[7] or 0)
calls = summary["emitted_by_type"].get("llm_call", 0)
assert calls == 200, calls
assert summary["emitted_by_type"].get("token", 0) == 200 * tokens, summary["emitted_by_type"]
assert summary["delivered"] == entries + token_entries, (summary["delivered"], entries)
used += token_used  # bytes: both streams; history: the llm_call events' stream alone
per_answer = entries / calls
seconds = 1_000_000 / (per_answer * 50)  # 50 answers a second
kept = f"{seconds / 3600:.2f} h" if seconds >= 3600 else (
    f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s")
print(f"{label:<34} {per_answer:>15.1f} {used / calls:>13,.0f} {kept:>22}")
PY
}
# Token events per answer: 1,000; chunks of 14 (the 14th token comes 260 ms after the first,
# past the 250 ms limit), 72 of them; chunks of 32, 32 of them; none.
measure "each" 1000 --token-mode each
measure "chunked (32 tokens or 250 ms)" 72 --token-mode chunked
measure "chunked (32 tokens, no time limit)" 32 --token-mode chunked --chunk-interval 0
measure "summary" 0 --token-mode summary
measure "off" 0 --token-mode off
# Tokens in a stream of their own (token_stream_key): stream_key holds the rest.
measure "each, tokens in their own stream" 1000 --token-mode each --token-stream ml_tokens
