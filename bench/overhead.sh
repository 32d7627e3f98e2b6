#!/usr/bin/env bash
# Measures the cycle's own overhead: a whole `run --provider local` with a
# trivial suite, wall time minus the time spent inside remote commands, as
# result.json reports them. Needs root (the local provider) and sshd. Two
# wall times: the cycle's (result.json's duration) and the process's, from
# exec to exit, which adds start-up, input parsing and writing the results.
# Also the cycle's wall time minus the suite's own steps: everything a leg
# costs beyond the work it was asked to do, the cycle's own remote commands
# (probe, sudo check, collect) included.
#
# Usage: bash bench/overhead.sh [runs]                       (default 5; suite user root)
#        SUITE_USER=mvr-bench bash bench/overhead.sh [runs]  (a fresh non-root suite user)
#
# As root, every remote command loads root's shell startup files (twice: the
# shell sshd starts and the login shell, see docs/performance.md). With
# SUITE_USER set to a user that does not exist, the local provider creates
# it with clean startup files for each run and removes it at teardown; the
# commands that must run as root (collect) still pay root's files.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
user=${SUITE_USER:-root}
if [[ $user != root ]] && id "$user" >/dev/null 2>&1; then
  echo "SUITE_USER=$user exists on this machine; name one that does not, so each run creates it afresh" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The binary that ships (Dockerfile): static, stripped; the probe upload is its size.
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/mvm-verify" .
cat >"$tmp/suite.yml" <<YAML
user: $user
steps:
  - name: trivial
    run: "true"
YAML
for i in $(seq "$runs"); do
  start=$(date +%s%N)
  if ! "$tmp/mvm-verify" run --provider local --suite "$tmp/suite.yml" --out "$tmp/out-$i" \
    --local-state-dir "$tmp/state" >"$tmp/log-$i" 2>&1; then
    tail -n 30 "$tmp/log-$i" >&2
    exit 1
  fi
  echo $(($(date +%s%N) - start)) >"$tmp/process-$i"
done
echo "suite user: $user"
python3 - "$tmp" "$runs" <<'PY'
import json, statistics, sys
tmp, runs = sys.argv[1], int(sys.argv[2])
results = [json.load(open(f"{tmp}/out-{i}/result.json")) for i in range(1, runs + 1)]
processes = [int(open(f"{tmp}/process-{i}").read()) / 1e6 for i in range(1, runs + 1)]
print(f"{'run':<4} {'wall_ms':>8} {'remote_ms':>10} {'overhead_ms':>12} {'process_ms':>11} {'process_overhead_ms':>20}"
      f" {'steps_ms':>9} {'wall_minus_steps_ms':>20}")
overheads, poverheads, besides = [], [], []
for i, r in enumerate(results, 1):
    wall, remote, proc = r["duration_ns"] / 1e6, r["remote_time_ns"] / 1e6, processes[i - 1]
    # The suite's own steps only: what a leg costs beyond the work asked of it.
    steps = sum(s["duration_ns"] for s in r["steps"]) / 1e6
    overheads.append(wall - remote)
    poverheads.append(proc - remote)
    besides.append(wall - steps)
    print(f"{i:<4} {wall:8.0f} {remote:10.0f} {wall - remote:12.0f} {proc:11.0f} {proc - remote:20.0f}"
          f" {steps:9.0f} {wall - steps:20.0f}")
print(f"median overhead: {statistics.median(overheads):.0f} ms (cycle), "
      f"{statistics.median(poverheads):.0f} ms (process, exec to exit); "
      f"median wall minus the suite's steps: {statistics.median(besides):.0f} ms")
phases = {}
for r in results:
    for p in r["phases"]:
        phases.setdefault(p["name"], []).append(p["duration_ns"] / 1e6)
print("median phase ms (wall, remote commands included):",
      ", ".join(f"{n} {statistics.median(d):.0f}" for n, d in phases.items()))
PY
