#!/usr/bin/env bash
# Coordinator memory under unsigned large bodies (issue 19, hostile-pass finding 1): starts `ftwin coordinator run` on loopback,
# then sends N concurrent unsigned POSTs of SIZE bytes to /v1/node/*, first with a declared Content-Length (refused 413 for its
# size), then chunked with no length (refused 401 for its missing signature), and reports the coordinator's resident memory
# (VmRSS, and the peak VmHWM) from /proc/PID/status before and after each round, with each response's status, the bytes curl had
# sent when the answer came, and the time it took. curl is told not to wait for "100 Continue" (Expect: is sent empty), as a
# hostile client would not: the whole body is pushed at once.
# The protocol header names the current version (protocol/Federation/FederationProtocol.cs): another is refused 400 before its size.
#
#   bench/transport/unsigned-bodies.sh [FTWIN_DLL] [N=8] [SIZE_MB=60]
#
# FTWIN_DLL defaults to cli/bin/Release/net10.0/ftwin.dll (build it first: dotnet build cli -c Release). Needs curl.
# The issue's bound: the rounds together add at most 200 MB to the coordinator's resident memory.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
dll="${1:-$root/cli/bin/Release/net10.0/ftwin.dll}"
n="${2:-8}"
size_mb="${3:-60}"
work="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
admin_port=$((port + 1))
url="http://127.0.0.1:$port"

dotnet "$dll" coordinator run --data-dir "$work/coordinator" --urls "$url" --admin-url "http://127.0.0.1:$admin_port" >"$work/coordinator.log" 2>&1 &
launcher=$!
trap 'kill "$launcher" 2>/dev/null || true; wait "$launcher" 2>/dev/null || true; rm -rf "$work"' EXIT

for _ in $(seq 1 120); do
  curl -sf "$url/health/ready" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -sf "$url/health/ready" >/dev/null || { echo "the coordinator did not become ready; see $work/coordinator.log" >&2; exit 1; }

# The process serving the port (dotnet runs ftwin.dll in the process it starts, so this is the launcher itself).
pid="$launcher"
rss() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$pid/status"; }
report() { printf '%-44s VmRSS %7d kB   VmHWM %7d kB\n' "$1" "$(rss VmRSS)" "$(rss VmHWM)"; }

truncate -s "${size_mb}M" "$work/body"
report "before (idle, ready)"
base=$(rss VmRSS)

round() {
  local label="$1"; shift
  local started=$SECONDS
  for i in $(seq 1 "$n"); do
    curl -s -o /dev/null -w "  %{http_code} after %{size_upload} bytes sent, %{time_total} s\n" \
      -H "Ftwin-Protocol: 3" -H "Content-Type: application/json" -H "Expect:" "$@" \
      "$url/v1/node/attempts/s$i/1/1/update" &
  done
  wait $(jobs -p | grep -v "^$launcher\$") 2>/dev/null || true
  report "after $n x ${size_mb} MB $label ($((SECONDS - started)) s)"
}

round "declared length" -X POST -T "$work/body"
round "chunked, no length" -X POST -H "Transfer-Encoding: chunked" -T - <"$work/body"

after=$(rss VmRSS)
peak=$(rss VmHWM)
echo "resident memory added: $(( (after - base) / 1024 )) MB now, peak $(( (peak - base) / 1024 )) MB over the idle baseline (bound: 200 MB)"
