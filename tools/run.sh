#!/usr/bin/env bash
# The main job. Installs the missing system packages, then runs the inspection command.
# With no arguments it detects objects in the shared demo photo and writes an annotated copy to out/.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v dotnet >/dev/null || { echo "run: the .NET 10 SDK is required (https://dot.net)." >&2; exit 1; }
tools/install-deps.sh runtime

if [ $# -eq 0 ]; then
  set -- detect --model ../shared/models/yolov8n-int8-coco/yolov8n_int8.onnx --source ../shared/media/bus.jpg --out out
fi
exec dotnet run --project src/Inspection.Cli -c Release -- "$@"
