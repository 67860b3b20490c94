#!/usr/bin/env bash
# The test command: installs the system packages the tests need, builds, runs every test.
# CI runs exactly this (.ci/run). Tests read real data from ../shared; with CI=true a missing file fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# --full: the heavy proofs (the whole fault and mutation campaigns, long soaks) instead of CI's fixed-seed samples.
args=()
for arg in "$@"; do
  if [ "$arg" = --full ]; then export INSPECTION_FULL=1; else args+=("$arg"); fi
done
set -- "${args[@]+"${args[@]}"}"

command -v dotnet >/dev/null || { echo "test: the .NET 10 SDK is required (https://dot.net)." >&2; exit 1; }
tools/install-deps.sh test

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
dotnet build Inspection.sln -c Release -v quiet -nologo

# Test projects run one after another: the camera tests measure frame rates on a 2-core machine.
set +e
dotnet test Inspection.sln -c Release --no-build -m:1 --blame-hang-timeout 10m "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# One closing line for any reader, summed over the test projects: N passed, N failed, N skipped.
awk '/(Passed|Failed|Skipped)! +- +Failed:/ {
       gsub(/,/, ""); for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) }
     }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
