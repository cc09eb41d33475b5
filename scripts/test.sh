#!/usr/bin/env bash
# Runs the whole test suite: installs the test prerequisites, builds in Release and runs every MSTest test.
# Prints one summary line "N passed, N failed, N skipped" at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0
dotnet test SimpleTransformer.sln -c Release --logger "console;verbosity=normal" --logger "trx;LogFileName=tests.trx" \
  --results-directory "$results" || status=$?

trx=$(find "$results" -name '*.trx' | head -n 1)
if [ -z "$trx" ]; then
  echo "no test results were written" >&2
  exit 1
fi

counters=$(grep -o '<Counters [^>]*>' "$trx")
count() { echo "$counters" | grep -o "$1=\"[0-9]*\"" | grep -o '[0-9]*'; }
passed=$(count passed)
failed=$(count failed)
skipped=$(( $(count total) - $(count executed) ))
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$passed" -eq 0 ]; then
  echo "no test ran" >&2
  exit 1
fi

exit "$status"
