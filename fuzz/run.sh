#!/usr/bin/env bash
# Runs the fuzz targets under afl-fuzz (Debian's afl++) with SharpFuzz's instrumentation of the product assemblies.
#   fuzz/run.sh [--seconds N] [--targets a,b,...] [--out DIR] [--parallel N] [--timeout-ms MS]
# Each target runs N seconds (default 30: the CI smoke run) from its committed seed corpus (fuzz/corpus/TARGET); findings go
# to DIR/TARGET (default fuzz/out, ignored by git). Prints one table row per target and writes DIR/summary.json (one JSON
# object). Exits 1 when any target saved a crash or a hang: reproduce it with
#   dotnet DIR/bin/FederatedTwin.Fuzz.dll TARGET --replay DIR/TARGET/default/crashes
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=30
targets=""
out=fuzz/out
parallel=1
timeout_ms=5000
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --targets) targets="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --parallel) parallel="$2"; shift 2 ;;
    --timeout-ms) timeout_ms="$2"; shift 2 ;;
    *) echo "fuzz: unknown argument $1 (usage: fuzz/run.sh [--seconds N] [--targets a,b] [--out DIR] [--parallel N])" >&2; exit 2 ;;
  esac
done

if ! command -v afl-fuzz >/dev/null 2>&1; then
  echo "fuzz: afl-fuzz is missing: install Debian's afl++ (.ci/setup does)" >&2
  exit 1
fi

bin="$out/bin"
rm -rf "$bin"
mkdir -p "$out"
dotnet publish fuzz/FederatedTwin.Fuzz/FederatedTwin.Fuzz.csproj -c Release -o "$bin" --nologo -v q >/dev/null
dotnet tool restore >/dev/null
# Instrument the product's own assemblies (edge coverage for afl); the harness itself and third-party libraries stay as built.
for dll in "$bin"/FederatedTwin.*.dll; do
  case "$(basename "$dll")" in
    FederatedTwin.Fuzz.dll) ;;
    *) dotnet tool run sharpfuzz "$dll" >/dev/null ;;
  esac
done

if [ -z "$targets" ]; then
  targets=$(dotnet "$bin/FederatedTwin.Fuzz.dll" --list | cut -f1 | paste -sd, -)
fi

# dotnet is not an afl-instrumented binary (SharpFuzz instruments the IL), it starts slowly, and CI machines have no core
# dumps or CPU governor to tune: the settings below say so to afl-fuzz instead of failing.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1
export AFL_FORKSRV_INIT_TMOUT=120000 AFL_QUIET=1

# The timeout is fixed (-t N, not afl's auto-scaled "N+", which settles on tens of milliseconds): a garbage collection or the
# first JIT of a path in the .NET target would pass it. SharpFuzz's fork server is the target process itself (.NET cannot
# fork), so when afl-fuzz kills an execution that exceeds the timeout (a hang, or a machine too loaded), the fork server goes
# with it and afl-fuzz stops ("Unable to communicate with fork server"). The run then resumes from its own queue (-i -) for the
# time left; restarts are counted, and executions and time of runs whose statistics afl-fuzz started afresh are carried over.
stat() { awk -F' *: *' -v k="$2" '$1 == k { print $2 }' "$1" 2>/dev/null; }

run_one() {
  local t="$1" start now left input restarts=0 starts=0 s="$out/$1/default/fuzzer_stats"
  local seg_start="" seg_execs=0 seg_time=0 carried_execs=0 carried_time=0 st
  rm -rf "${out:?}/$t"
  start=$(date +%s)
  input="fuzz/corpus/$t"
  : >"$out/$t.log"
  while :; do
    now=$(date +%s); left=$((seconds - (now - start)))
    [ "$left" -ge 5 ] || break
    AFL_AUTORESUME=1 afl-fuzz -V "$left" -i "$input" -o "$out/$t" -t "$timeout_ms" -m none -- dotnet "$bin/FederatedTwin.Fuzz.dll" "$t" \
      >>"$out/$t.log" 2>&1 && break
    if [ ! -f "$s" ]; then
      # Seen once on a loaded machine: "No instrumentation detected" after the first dry-run execution. Started afresh twice
      # more before the target is reported as not started.
      starts=$((starts + 1))
      [ "$starts" -lt 3 ] || { echo "fuzz: afl-fuzz on $t did not start (see $out/$t.log)" >&2; break; }
      echo "fuzz: $t: afl-fuzz did not start; starting again" >&2
      rm -rf "${out:?}/$t"
      continue
    fi
    st=$(stat "$s" start_time)
    if [ -n "$seg_start" ] && [ "$st" != "$seg_start" ]; then
      carried_execs=$((carried_execs + seg_execs)); carried_time=$((carried_time + seg_time))
    fi
    seg_start="$st"; seg_execs=$(stat "$s" execs_done); seg_time=$(stat "$s" run_time)
    restarts=$((restarts + 1)); input=-
    echo "fuzz: $t: afl-fuzz stopped early (restart $restarts; see $out/$t.log)" >&2
  done
  if [ -f "$s" ] && [ -n "$seg_start" ] && [ "$(stat "$s" start_time)" != "$seg_start" ]; then
    carried_execs=$((carried_execs + seg_execs)); carried_time=$((carried_time + seg_time))
  fi
  echo "$restarts $carried_execs $carried_time" >"$out/$t.restarts"
}

IFS=, read -r -a list <<<"$targets"
running=0
for t in "${list[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

failed=0
printf '%-18s %12s %8s %8s %8s %8s %6s %8s\n' target executions seconds exec/s corpus crashes hangs restarts
json="{\"seconds_per_target\": $seconds, \"targets\": ["
sep=""
for t in "${list[@]}"; do
  s="$out/$t/default/fuzzer_stats"
  if [ ! -f "$s" ]; then
    echo "fuzz: $t did not start (see $out/$t.log)" >&2
    failed=1
    continue
  fi
  execs=$(stat "$s" execs_done); time=$(stat "$s" run_time); rate=$(stat "$s" execs_per_sec)
  corpus=$(stat "$s" corpus_count); crashes=$(stat "$s" saved_crashes); hangs=$(stat "$s" saved_hangs)
  read -r restarts carried_execs carried_time <"$out/$t.restarts" || { restarts=0; carried_execs=0; carried_time=0; }
  execs=$((execs + carried_execs)); time=$((time + carried_time))
  rate=$(awk -v e="$execs" -v t="$time" 'BEGIN { printf "%.2f", (t > 0 ? e / t : 0) }')
  printf '%-18s %12s %8s %8s %8s %8s %6s %8s\n' "$t" "$execs" "$time" "$rate" "$corpus" "$crashes" "$hangs" "$restarts"
  json="$json$sep{\"target\": \"$t\", \"executions\": $execs, \"seconds\": $time, \"execs_per_sec\": $rate, \"corpus\": $corpus, \"crashes\": $crashes, \"hangs\": $hangs, \"restarts\": $restarts}"
  sep=", "
  if [ "$crashes" != 0 ] || [ "$hangs" != 0 ]; then
    failed=1
  fi
done
echo "$json]}" >"$out/summary.json"
exit "$failed"
