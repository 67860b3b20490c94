#!/usr/bin/env bash
# The main job. Installs the missing system packages, builds, and starts the inspection worker:
# with no configuration it runs the bundled demo model on the bundled demo pictures played as a camera,
# publishes to an embedded MQTT broker on 127.0.0.1:1883 and serves metrics on http://127.0.0.1:9400.
# Worker options follow as --Inspection:Key=value or come from --config FILE and Inspection__* variables.
# `tools/run.sh inspection ARGS` runs the inspection command instead (detect, train, val, export, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v dotnet >/dev/null || { echo "run: the .NET 10 SDK is required (https://dot.net)." >&2; exit 1; }
tools/install-deps.sh runtime

if [ "${1:-}" = inspection ]; then
  shift
  exec dotnet run --project src/Inspection.Cli -c Release -- "$@"
fi
exec dotnet run --project src/Inspection.Worker -c Release -- "$@"
