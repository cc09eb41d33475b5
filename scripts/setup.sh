#!/usr/bin/env bash
# Installs what the test suite needs beyond the .NET SDK: Debian's python3-onnx, the independent ONNX reference
# checker that the export tests run, and libonnx-testdata, ONNX's own test models that the schema tests read.
# Safe to run again; it installs nothing that is already there.
set -euo pipefail

packages=()
if ! /usr/bin/python3 -c 'import onnx' >/dev/null 2>&1; then
  packages+=(python3-onnx)
fi
if [ ! -d /usr/share/libonnx-testdata/data ]; then
  packages+=(libonnx-testdata)
fi

if [ ${#packages[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: missing Debian packages: ${packages[*]}. Install them with: sudo apt-get install -y ${packages[*]}" >&2
  exit 1
fi

echo "setup: installing ${packages[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
