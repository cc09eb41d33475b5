#!/usr/bin/env bash
# Trains the quick preset on the bundled Brown Corpus sample, exports it to ONNX and generates text with
# ONNX Runtime. Usage: scripts/quickstart.sh [RUN_DIRECTORY]. Each call writes a new run directory under runs/.
set -euo pipefail
cd "$(dirname "$0")/.."

run=${1:-runs/quick-$(date +%Y%m%d-%H%M%S)}
if [ -e "$run" ]; then
  echo "quickstart: '$run' already exists; pass a new run directory so that nothing saved is overwritten." >&2
  exit 1
fi

dotnet build SimpleTransformer.sln -c Release -v quiet -nologo

echo "== train: models/quick.json on data/brown-sample.txt -> $run"
dotnet Training/bin/Release/net10.0/SimpleTransformer.Training.dll train \
  --preset models/quick.json --corpus data/brown-sample.txt --output "$run"

checkpoint=$(ls -d "$run"/checkpoint-* | sort | tail -n 1)
echo "== export: $checkpoint -> $run/onnx"
dotnet Export/bin/Release/net10.0/SimpleTransformer.Export.dll "$checkpoint" --output "$run/onnx"

echo "== generate with ONNX Runtime"
dotnet samples/Generate/bin/Release/net10.0/generate.dll --model "$run/onnx" \
  --prompt "The jury said" --max-new-tokens 100 --temperature 0.8 --top-k 40 --seed 1
echo
