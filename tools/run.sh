#!/usr/bin/env bash
# The main job. Installs the missing system packages, then runs the inspection command.
# With no arguments it runs the bundled demo model on the workpiece test photos and writes annotated copies to out/.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v dotnet >/dev/null || { echo "run: the .NET 10 SDK is required (https://dot.net)." >&2; exit 1; }
tools/install-deps.sh runtime

if [ $# -eq 0 ]; then
  set -- detect --model models/workpiece-crack/workpiece-crack-yolov8n-320.onnx --source ../shared/datasets/workpiece-crack/test/images --out out
fi
exec dotnet run --project src/Inspection.Cli -c Release -- "$@"
