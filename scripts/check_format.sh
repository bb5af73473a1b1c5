#!/usr/bin/env bash
# Checks that every C++ source the project tracks is formatted by .clang-format (clang-format
# 14, Debian's `clang-format` package). Prints the files that are not and exits 1.
#
#   scripts/check_format.sh          check
#   scripts/check_format.sh --fix    reformat those files in place
set -euo pipefail
cd "$(dirname "$0")/.."
fix=0
case "${1:-}" in
  -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  --fix) fix=1 ;;
  "") ;;
  *) echo "check_format.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac
format=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$format" ]; then
  echo "check_format.sh: clang-format not found (scripts/deps.sh installs it)" >&2
  exit 1
fi
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h')
else  # an exported tree: every source outside build directories
  mapfile -t files < <(find . -path ./build -prune -o -type f \( -name '*.cpp' -o -name '*.hpp' \
    -o -name '*.h' \) -print | sed 's|^\./||' | sort)
fi
if [ "$fix" -eq 1 ]; then
  "$format" -i "${files[@]}"
  exit 0
fi
unformatted=()
for f in "${files[@]}"; do
  if ! "$format" --dry-run --Werror "$f" >/dev/null 2>&1; then unformatted+=("$f"); fi
done
if [ ${#unformatted[@]} -gt 0 ]; then
  echo "check_format.sh: not formatted by .clang-format (fix: scripts/check_format.sh --fix):" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  exit 1
fi
echo "check_format.sh: ${#files[@]} files formatted"
