#!/usr/bin/env bash
# The worker in a container against the same worker outside it, one after the other in rounds (interleaved, one
# session): N file sources of the shared traffic video delivering every frame, the bundled demo model on the CPU;
# frames inspected per second from the first result to the last. Then container start to first result: podman run
# to the first result a mosquitto_sub on the host receives from a mosquitto on the host.
#   tools/bench/container.sh [--rounds 3] [--sources 3] [--image localhost/inspection-worker:cpu]
# Needs the solution built (Release) and the image (tools/images.sh). Prints a Markdown table and the machine's load.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=3 sources=3 image=localhost/inspection-worker:cpu
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=${2:?}; shift 2 ;;
    --sources) sources=${2:?}; shift 2 ;;
    --image) image=${2:?}; shift 2 ;;
    *) echo "container bench: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/tools/podman/containers.conf}"
worker=$PWD/src/Inspection.Worker/bin/Release/net10.0/linux-x64/inspection-worker.dll
[ -f "$worker" ] || { echo "container bench: build the solution in Release first ($worker is missing)." >&2; exit 1; }
podman image exists "$image" || { echo "container bench: $image is missing: run tools/images.sh first." >&2; exit 1; }
clip=$(readlink -f "${INSPECTION_SHARED:-../shared}/media/traffic_cKuhn517_MIT.mp4")
# Frames as decoded (the container header says 754, a decoder gives 734).
frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$clip")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
name=inspection-bench-$$
trap 'podman rm -f -t 0 "$name" >/dev/null 2>&1 || true; [ -n "${broker:-}" ] && kill "$broker" 2>/dev/null; rm -rf "$work"' EXIT

# The same settings inside and outside, as environment variables (the clip is mounted at the same path).
settings() { # HTTP_PORT
  echo "Inspection__Http__Url=http://127.0.0.1:$1"
  echo "Inspection__Web__Url=http://127.0.0.1:$(free_port)"
  echo "Inspection__Mqtt__EmbeddedBrokerPort=$(free_port)"
  echo "Inspection__Model__Providers__0=Cpu"
  echo "Inspection__Evidence__Enabled=false"
  echo "Logging__LogLevel__Default=Warning"
  for ((i = 0; i < sources; i++)); do
    echo "Inspection__Cameras__${i}__Id=file$i"
    echo "Inspection__Cameras__${i}__Uri=$clip"
    echo "Inspection__Cameras__${i}__Policy=DeliverAll"
    echo "Inspection__Cameras__${i}__Realtime=false"
    echo "Inspection__Cameras__${i}__Loop=false"
    echo "Inspection__Cameras__${i}__Integrity__Enabled=false"
  done
}
inspected() { # HTTP_PORT: frames inspected so far, all cameras
  curl -s --max-time 1 "http://127.0.0.1:$1/metrics" 2>/dev/null | awk '/^inspection_frames_inspected_total\{/ {n += $NF} END {print n + 0}'
}
now() { date +%s.%N; }

# Frames per second from the first inspected frame to the last of sources x frames.
measure() { # inside|outside
  local port; port=$(free_port)
  settings "$port" >"$work/env"
  if [ "$1" = inside ]; then
    podman run -d --name "$name" --network host --ulimit host --health-interval disable --env-file "$work/env" \
      -v "$(dirname "$clip"):$(dirname "$clip"):ro" -v "$work:/data" "$image" >/dev/null 2>&1
  else
    (cd "$work" && env $(cat "$work/env") dotnet "$worker" >/dev/null 2>&1) & local pid=$!
  fi
  local total=$((sources * frames)) first="" start="" n=0 deadline=$((SECONDS + 600))
  while [ "$n" -lt "$total" ]; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "container bench: the worker ($1) inspected $n of $total frames in 10 min." >&2; exit 1; }
    n=$(inspected "$port")
    if [ -z "$start" ] && [ "$n" -gt 0 ]; then first=$n start=$(now); fi
    sleep 0.05
  done
  local end; end=$(now)
  if [ "$1" = inside ]; then podman rm -f -t 10 "$name" >/dev/null 2>&1; else kill -TERM "$pid"; wait "$pid" || true; fi
  echo "($total - $first) / ($end - $start)" | bc -l
}

chmod 777 "$work"
declare -a inside outside
for ((r = 1; r <= rounds; r++)); do
  outside+=("$(measure outside)")
  inside+=("$(measure inside)")
  printf 'round %d: outside %.1f frames/s, inside %.1f frames/s\n' "$r" "${outside[-1]}" "${inside[-1]}" >&2
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ratios=(); for ((r = 0; r < rounds; r++)); do ratios+=("$(echo "${inside[r]} / ${outside[r]}" | bc -l)"); done

# Container start to first result.
port=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" >"$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" >/dev/null 2>&1 & broker=$!
sleep 0.5
started=$(now)
mosquitto_sub -h 127.0.0.1 -p "$port" -t 'inspection/+/+/demo/result' -C 1 -W 120 >/dev/null & sub=$!
podman run -d --name "$name" --network host --ulimit host --health-interval disable -v "$work:/data" \
  -e Inspection__Mqtt__Host=127.0.0.1 -e Inspection__Mqtt__Port="$port" -e Inspection__Http__Url="http://127.0.0.1:$(free_port)" -e Inspection__Web__Url="http://127.0.0.1:$(free_port)" "$image" >/dev/null 2>&1
wait "$sub"
first_result=$(echo "$(now) - $started" | bc -l)

printf '| %d file sources, %d frames each | outside (frames/s) | in the container (frames/s) | inside / outside |\n|---|---|---|---|\n' "$sources" "$frames"
for ((r = 0; r < rounds; r++)); do printf '| round %d | %.1f | %.1f | %.3f |\n' $((r + 1)) "${outside[r]}" "${inside[r]}" "${ratios[r]}"; done
printf '| median | %.1f | %.1f | %.3f |\n' "$(median "${outside[@]}")" "$(median "${inside[@]}")" "$(median "${ratios[@]}")"
printf 'Container start to first result (podman run to mosquitto_sub on the host): %.1f s\n' "$first_result"
printf 'Machine: %s cores, load average %s\n' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
