# Sourced by scripts/format.sh and scripts/check_format.sh: the files the
# style covers (every tracked C++ source and header, not third-party code or
# test data) and the clang-format that formats them.
#
# Both scripts use clang-format 14 (Debian 12's `clang-format` package,
# listed in scripts/bootstrap.sh): another major version breaks some lines
# differently, so a tree formatted by one would fail the other's check.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
clang_format=${CLANG_FORMAT:-clang-format}
if ! command -v "$clang_format" >/dev/null; then
  echo "$0: $clang_format not found; apt-get install clang-format (or set CLANG_FORMAT)" >&2
  exit 2
fi
version=$("$clang_format" --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
if [ "$version" != 14 ]; then
  echo "$0: $clang_format is version ${version:-unknown}, the style is checked with 14; results may differ" >&2
fi
mapfile -t format_files < <(git ls-files -- '*.cpp' '*.h' | grep -Ev '^(build[^/]*|third_party|third-party)/|(^|/)test-data/')
