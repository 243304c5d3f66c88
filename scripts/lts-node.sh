#!/usr/bin/env bash
# Prints the bin directory of a Node.js that the tests and the benchmarks run on: the
# machine's own when it is at least the LTS line below, otherwise that LTS release,
# fetched once from the npm registry (the official build, packaged as node-linux-<arch>;
# npm checks it against the registry's checksum) and kept in ~/.cache/pushframe.
#
#   export PATH="$(bash scripts/lts-node.sh):$PATH"
#
# Node 20 reached its end of life in April 2026; pushframe still runs on it, but its
# tests and figures are for this line (BENCHMARKS.md shows what changes with it).
set -euo pipefail

VERSION=24.22.3
MAJOR=${VERSION%%.*}

if command -v node >/dev/null 2>&1; then
  have=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$have" -ge "$MAJOR" ]; then
    dirname "$(command -v node)"
    exit 0
  fi
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) arch=x64 ;;
  Linux-aarch64) arch=arm64 ;;
  *)
    echo "lts-node: no Node.js $MAJOR here and no npm build for $(uname -s) $(uname -m): install Node.js $MAJOR or later" >&2
    exit 1
    ;;
esac

dir=${XDG_CACHE_HOME:-$HOME/.cache}/pushframe/node-v$VERSION-linux-$arch
if [ ! -x "$dir/bin/node" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "lts-node: fetching Node.js $VERSION (node-linux-$arch) from the npm registry" >&2
  tarball=$(cd "$tmp" && npm pack --silent "node-linux-$arch@$VERSION")
  mkdir -p "$tmp/unpacked"
  tar -xzf "$tmp/$tarball" -C "$tmp/unpacked" --strip-components=1
  "$tmp/unpacked/bin/node" --version >/dev/null
  mkdir -p "$(dirname "$dir")"
  rm -rf "$dir"
  mv "$tmp/unpacked" "$dir"
fi
echo "$dir/bin"
