#!/usr/bin/env bash
# Applies .clang-format to every tracked C++ file, in place.
#   scripts/format.sh            # the whole tree
#   scripts/format.sh FILE...    # only these
set -euo pipefail
source "$(dirname "$0")/format_files.sh"
if (($#)); then format_files=("$@"); fi
printf '%s\0' "${format_files[@]}" | xargs -0 -n 16 -P "$(nproc)" "$clang_format" -i --style=file
