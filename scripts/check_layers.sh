#!/usr/bin/env bash
# Checks the include rule of src/ (docs/design.md, "Source layout"): a file in a wing of
# src/redis/ includes only from lower wings, its own wing, src/support, src/pipeline, src/*.hpp
# and public headers; the peers sink and consumer never include each other; src/pipeline and
# src/support include nothing under src/redis or src/sinks. Prints each offending include.
#
#   scripts/check_layers.sh [source root, default src]
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
root=${1:-src}
# Each wing's rank: a wing includes from lower ranks and from itself, never from a peer.
declare -A rank=([config]=0 [transport]=1 [routing]=2 [sink]=3 [consumer]=3 [analytics]=4)
bad=0
complain() { echo "check_layers.sh: $1" >&2; bad=1; }

# Every file of src/redis/ sits in a known wing.
while IFS= read -r file; do
  wing=${file#"$root"/redis/}
  wing=${wing%%/*}
  if [ "$wing" = "${file##*/}" ] || [ -z "${rank[$wing]:-}" ]; then
    complain "$file is not in a wing (${!rank[*]})"
  fi
done < <(find "$root/redis" -type f \( -name '*.cpp' -o -name '*.hpp' \) | sort)

# Every quoted include of a wing file: allowed by the rule above. A wing's public headers
# count as that wing (a consumer must not reach the sink through streamll/sinks/*).
while IFS=: read -r file line target; do
  wing=${file#"$root"/redis/}
  wing=${wing%%/*}
  [ -n "${rank[$wing]:-}" ] || continue
  case "$target" in
    redis/*/*) to=${target#redis/} to=${to%%/*} ;;
    streamll/sinks/redis_sink.hpp | streamll/sinks/sharded_redis_sink.hpp) to=sink ;;
    streamll/redis/consumer.hpp) to=consumer ;;
    streamll/redis/analytics.hpp | streamll/redis/producers.hpp) to=analytics ;;
    streamll/* | support/* | pipeline/*) continue ;;
    */*) complain "$file:$line: wing $wing includes $target" && continue ;;
    *) [ -f "$root/$target" ] || complain "$file:$line: $target is not a header of $root/"
      continue ;;
  esac
  if [ -z "${rank[$to]:-}" ]; then
    complain "$file:$line: $target is not in a wing"
  elif [ "$to" != "$wing" ] && [ "${rank[$to]}" -ge "${rank[$wing]}" ]; then
    complain "$file:$line: wing $wing (rank ${rank[$wing]}) includes $target (rank ${rank[$to]})"
  fi
done < <(grep -rnoE '^#include "[^"]+"' "$root/redis" | sed -E 's/#include "([^"]+)"/\1/')

# The pipeline and the support code sit below every sink: nothing of src/redis or src/sinks.
for dir in pipeline support; do
  [ -d "$root/$dir" ] || continue
  while IFS= read -r hit; do
    complain "$hit: $dir includes Redis or sink internals"
  done < <(grep -rnE '^#include "(redis|sinks)/' "$root/$dir" || true)
done

[ "$bad" -eq 0 ] || exit 1
echo "check_layers.sh: src/redis wings, src/pipeline and src/support follow the include rule"
