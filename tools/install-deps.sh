#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Inspection needs at run time and in its tests, when they are missing.
# Usage: tools/install-deps.sh [runtime|test]   (default: test, which is a superset of runtime)
set -euo pipefail

scope="${1:-test}"
runtime_packages=(
  libgtk-3-0   # OpenCvSharp's native library links against GTK 3
  libatomic1   # ... and against libatomic, which minimal images lack
  ffmpeg       # network camera streams (RTSP, RTMP, SRT, HLS) are pulled by a child ffmpeg process
)
test_packages=(
  mosquitto mosquitto-clients openssl   # a real MQTT broker, mosquitto_sub, certificates for TLS tests
  bsdutils                              # script: a progress test runs the CLI under a real terminal (essential, stated)
  procps                                # kill, to stop test servers politely (not essential on minimal images)
  protobuf-compiler                     # protoc --decode_raw: the tests' Sparkplug host reads payloads without our generated code
  python3-yaml                          # PyYAML (YAML 1.1), reading back the data.yaml files the project writes, as Ultralytics does
  prometheus                            # promtool check metrics, and a real Prometheus server scraping the worker
  # A real RTSP server for the camera tests: GStreamer's gst-rtsp-server, driven from Debian's python3
  python3-gi gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad
  # The container image tests: podman builds and runs the images (runc: crun fails on these kernels' cgroups),
  # debootstrap makes their minimal Debian 12 base (../shared/tools/minimal-debian.sh image)
  podman runc debootstrap
  # The web view's browser tests: a real headless Chromium driven by its own chromedriver (same version, no download)
  chromium chromium-driver
)

packages=("${runtime_packages[@]}")
if [ "$scope" = test ]; then
  packages+=("${test_packages[@]}")
  # kubectl kustomize renders deploy/k8s for its tests; any kubectl will do (Debian's is 1.20, kustomize v2).
  command -v kubectl >/dev/null || packages+=(kubernetes-client)
  # tools/validate checks the manifests with node (kubernetes-models, the Compose schema); any node 18+ with npm will do.
  command -v npm >/dev/null || packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "install-deps: missing ${missing[*]}, and this system has no apt-get; install them with its package manager." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo to add ${missing[*]}." >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
