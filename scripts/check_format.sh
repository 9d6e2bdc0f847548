#!/usr/bin/env bash
# Exits 1 listing the tracked C++ files that .clang-format would change (0
# when none would); scripts/format.sh fixes them. CTest runs it as
# `format_check` when configured with -DHORIZON_CHECK_FORMAT=ON.
#   scripts/check_format.sh            # the whole tree
#   scripts/check_format.sh FILE...    # only these
set -euo pipefail
source "$(dirname "$0")/format_files.sh"
if (($#)); then format_files=("$@"); fi
differ=$(printf '%s\0' "${format_files[@]}" | xargs -0 -n 1 -P "$(nproc)" sh -c \
  '"$0" --style=file "$1" | cmp -s - "$1" || echo "$1"' "$clang_format" | sort)
if [ -n "$differ" ]; then
  echo "$(echo "$differ" | wc -l) file(s) differ from .clang-format (run scripts/format.sh):" >&2
  echo "$differ" >&2
  exit 1
fi
echo "all ${#format_files[@]} C++ files match .clang-format"
