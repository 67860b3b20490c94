#!/usr/bin/env bash
# The one command for a GPU host: checks what the GPU paths need, builds with CUDA libtorch, runs the tests
# (the provider tests run on the GPU there and fail if it is broken), runs the GPU benchmarks, and writes one
# markdown report. On a host that lacks something it says exactly what, in a few lines, and exits 1 before
# building anything.
#
#   tools/gpu-check.sh [--report FILE] [--quick]
#     --report FILE  where the report goes (default: gpu-report.md)
#     --quick        checks, build and tests only; no benchmarks
set -uo pipefail
cd "$(dirname "$0")/.."

report=gpu-report.md
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --report) report="${2:?--report needs a file}"; shift 2 ;;
    --quick) quick=1; shift ;;
    *) echo "gpu-check: unknown option '$1'; use --report FILE or --quick." >&2; exit 2 ;;
  esac
done

# What ONNX Runtime 1.31's providers load (readelf -d libonnxruntime_providers_*.so lists them; cuDNN is opened at
# run time), grouped as NVIDIA ships them, with the packages of NVIDIA's apt repository. libtorch's CUDA build
# brings its own CUDA 12.8 and needs only a driver that supports it.
groups=(
  "CUDA 13 runtime|cuda-cudart-13-0 libcublas-13-0 libcurand-13-0|libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10"
  "cuDNN 9|libcudnn9-cuda-13|libcudnn.so.9"
  "TensorRT 10|libnvinfer10 libnvonnxparsers10|libnvinfer.so.10 libnvonnxparser.so.10"
)
min_driver_cuda=13.0

missing=()
found=()

# A library the dynamic loader finds: in its cache or on LD_LIBRARY_PATH.
has_lib() {
  local lib=$1 dir
  if /sbin/ldconfig -p 2>/dev/null | grep -qF " $lib "; then return 0; fi
  IFS=: read -ra dirs <<< "${LD_LIBRARY_PATH:-}"
  for dir in "${dirs[@]}"; do [ -n "$dir" ] && [ -e "$dir/$lib" ] && return 0; done
  return 1
}

# 1. Driver and GPUs.
driver_cuda=""
if ! command -v nvidia-smi >/dev/null 2>&1 || ! has_lib libcuda.so.1; then
  missing+=("NVIDIA driver: no nvidia-smi or libcuda.so.1 (install the driver for your GPU, CUDA $min_driver_cuda or later)")
elif ! gpus="$(nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader 2>&1)" || [ -z "$gpus" ]; then
  missing+=("a GPU: nvidia-smi runs but lists none ($(echo "$gpus" | head -1))")
else
  driver_cuda="$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' | head -1)"
  while IFS= read -r gpu; do found+=("GPU $gpu"); done <<< "$gpus"
  if [ -n "$driver_cuda" ] && [ "$(printf '%s\n%s\n' "$min_driver_cuda" "$driver_cuda" | sort -V | head -1)" != "$min_driver_cuda" ]; then
    missing+=("a driver for CUDA $min_driver_cuda or later: this one supports CUDA $driver_cuda")
  else
    found+=("driver for CUDA ${driver_cuda:-?}")
  fi
fi

# 2. Libraries, one line per missing group.
for group in "${groups[@]}"; do
  IFS='|' read -r name packages libs <<< "$group"
  absent=()
  for lib in $libs; do has_lib "$lib" || absent+=("$lib"); done
  if [ ${#absent[@]} -gt 0 ]; then missing+=("$name: ${absent[*]} (apt: $packages)"); else found+=("$name"); fi
done

command -v dotnet >/dev/null 2>&1 || missing+=(".NET 10 SDK: no dotnet (https://dot.net)")

if [ ${#missing[@]} -gt 0 ]; then
  echo "gpu-check: this host cannot run the GPU paths; missing:" >&2
  for item in "${missing[@]}"; do echo "  - $item" >&2; done
  [ ${#found[@]} -gt 0 ] && echo "  found: ${found[*]}" >&2
  echo "Install what is missing (or start from an nvcr.io/nvidia/tensorrt image with CUDA 13) and run it again." >&2
  exit 1
fi

# 3. Build with CUDA libtorch, then the tests (the provider, pixel-graft and training-device tests run on the GPU).
started=$(date +%s)
{
  echo "# GPU check: $(hostname), $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); driver CUDA $driver_cuda."
  echo
  for item in "${found[@]}"; do echo "- $item"; done
  echo
} > "$report"

set -e
dotnet build Inspection.sln -c Release -p:LibTorch=cuda -v quiet -nologo
set +e
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
dotnet test Inspection.sln -c Release --no-build -m:1 -p:LibTorch=cuda 2>&1 | tee "$log"
tests=${PIPESTATUS[0]}
summary="$(awk '/(Passed|Failed|Skipped)! +- +Failed:/ { gsub(/,/, ""); for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
                END { printf "%d passed, %d failed, %d skipped", p, f, s }' "$log")"
{
  echo "## Tests"
  echo
  echo "$summary (exit $tests)."
  grep -E '^\s+Failed ' "$log" | sed 's/^ */- /' | head -50
  echo
} >> "$report"

# 4. Benchmarks, each paired with its bound in the same run.
bench_status=0
if [ "$quick" = 0 ]; then
  bench="dotnet tools/bench/bin/Release/net10.0/linux-x64/inspection-bench.dll"
  run_bench() { # title, then the benchmark's arguments
    local title=$1; shift
    echo "## $title" >> "$report"
    echo >> "$report"
    echo "\`inspection-bench $*\`" >> "$report"
    echo >> "$report"
    if ! $bench "$@" >> "$report"; then bench_status=1; echo "(failed: exit status above)" >> "$report"; fi
    echo >> "$report"
  }
  model=../shared/models/ultralytics-pretrained/yolov8n.onnx
  run_bench "Engine on CUDA against the raw session (YOLOv8n 640, fresh export with a dynamic batch)" detector --fresh n --device cuda --batches 1,8,32
  run_bench "Engine on TensorRT FP16 against the raw session" detector --fresh n --device tensorrt --fp16 true --batches 1,8,32
  run_bench "Engine on CUDA, Ultralytics' float YOLOv8n" detector --model "$model" --device cuda --batches 1,8
  run_bench "Worker with 16 file sources on the GPU against the engine alone" worker --device auto --streams 16 --batch 16
  run_bench "Training on CUDA (trainer against the raw step there)" training --device cuda --rounds 2 --epochs 2
  run_bench "Training on the CPU of the same host, for comparison" training --device cpu --rounds 1 --epochs 1
fi

echo "Took $(( $(date +%s) - started )) s." >> "$report"
echo "gpu-check: report in $report; tests: $summary."
[ "$tests" = 0 ] && [ "$bench_status" = 0 ]
