#!/usr/bin/env bash
# Builds Inspection's container images with podman on this machine, where no registry is reachable:
#   tools/images.sh [--flavor cpu|gpu|trainer|all] [--base NAME]
# The base (default localhost/debian12:base) is made with ../shared/tools/minimal-debian.sh when it is a missing
# localhost/ image; the SDK image is that base plus this machine's .NET SDK. Images: localhost/inspection-worker:cpu,
# localhost/inspection-worker:gpu (built here from the same base: the file is proven, the CUDA base cannot be
# pulled) and localhost/inspection-trainer:cpu. An image whose inputs (the files of src/, the demo model, deploy/docker,
# the build files, the base and SDK images) did not change is reused, not rebuilt. Prints the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."

flavor=cpu
base=localhost/debian12:base
while [ $# -gt 0 ]; do
  case "$1" in
    --flavor) flavor=${2:?}; shift 2 ;;
    --base) base=${2:?}; shift 2 ;;
    *) echo "images: unknown argument '$1'; usage: tools/images.sh [--flavor cpu|gpu|trainer|all] [--base NAME]" >&2; exit 2 ;;
  esac
done
case "$flavor" in
  cpu|gpu|trainer) flavors=("$flavor") ;;
  all) flavors=(cpu gpu trainer) ;;
  *) echo "images: --flavor '$flavor' is not one of cpu, gpu, trainer, all." >&2; exit 2 ;;
esac

# crun and podman's default ulimits fail on these machines (../shared/notes/platform.md, "Containers").
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/tools/podman/containers.conf}"
command -v podman >/dev/null || { echo "images: podman is missing: run tools/install-deps.sh test (it installs podman, runc and debootstrap)." >&2; exit 1; }
build=(podman build --format docker --ulimit nofile=20000:20000 --network host)
label=io.inspection.inputs

# The inspection of a label, empty when the image is missing.
inputs_of() { podman image inspect --format "{{index .Labels \"$label\"}}" "$1" 2>/dev/null || true; }
image_id() { podman image inspect --format '{{.Id}}' "$1"; }

if ! podman image exists "$base"; then
  case "$base" in
    localhost/*)
      shared="${INSPECTION_SHARED:-$PWD/../shared}"
      echo "images: making the base image $base (minimal Debian 12, ~1 min)" >&2
      bash "$shared/tools/minimal-debian.sh" image "$base" >/dev/null ;;
    *) podman pull "$base" >/dev/null ;;
  esac
fi

# The local stand-in for mcr.microsoft.com/dotnet/sdk:10.0, rebuilt when the base or this machine's SDK changes.
dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
sdk_image=localhost/inspection-sdk:10.0
sdk_inputs=$(printf '%s %s' "$(image_id "$base")" "$(dotnet --version)" | sha256sum | cut -c1-16)
if [ "$(inputs_of "$sdk_image")" != "$sdk_inputs" ]; then
  echo "images: building $sdk_image from $base and $dotnet_root" >&2
  "${build[@]}" --quiet --build-arg BASE="$base" --label "$label=$sdk_inputs" -f deploy/docker/sdk.Dockerfile -t "$sdk_image" "$dotnet_root" >/dev/null
fi

# The content of the images' inputs as the working tree has them (committed or not; git's ignore rules apply).
tree=$(git ls-files -z --cached --others --exclude-standard -- src models/workpiece-crack deploy/docker tools/build tools/install-deps.sh \
         Directory.Build.props Directory.Build.targets Directory.Packages.props global.json .containerignore \
       | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)

nuget_config="$HOME/.nuget/NuGet/NuGet.Config"
secret=()
[ -f "$nuget_config" ] && secret=(--secret "id=nuget.config,src=$nuget_config")

for f in "${flavors[@]}"; do
  case "$f" in
    trainer) tag=localhost/inspection-trainer:cpu; args=(--target trainer --build-arg LIBTORCH=cpu) ;;
    *) tag=localhost/inspection-worker:$f; args=(--target worker --build-arg FLAVOR="$f") ;;
  esac
  inputs=$(printf '%s %s %s %s' "$tree" "$(image_id "$base")" "$(image_id "$sdk_image")" "${args[*]}" | sha256sum | cut -c1-16)
  if [ "$(inputs_of "$tag")" = "$inputs" ]; then
    echo "images: $tag is up to date (inputs $inputs)" >&2
    continue
  fi

  echo "images: building $tag" >&2
  started=$SECONDS
  "${build[@]}" "${args[@]}" "${secret[@]}" \
    --build-arg SDK_IMAGE="$sdk_image" --build-arg RUNTIME_BASE="$base" \
    --build-arg NUGET_CERT_REVOCATION_MODE="${NUGET_CERT_REVOCATION_MODE:-online}" \
    --build-arg REVISION="$(git rev-parse HEAD)" \
    --label "$label=$inputs" -f deploy/docker/Dockerfile -t "$tag" . >&2
  echo "images: built $tag in $((SECONDS - started)) s" >&2
done

for f in "${flavors[@]}"; do
  [ "$f" = trainer ] && tag=localhost/inspection-trainer:cpu || tag=localhost/inspection-worker:$f
  podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$tag"
done
