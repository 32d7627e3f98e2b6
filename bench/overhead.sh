#!/usr/bin/env bash
# Measures the cycle's own overhead: a whole `run --provider local` with a
# trivial suite, wall time minus the time spent inside remote commands, as
# result.json reports them. Needs root (the local provider) and sshd.
# Usage: bash bench/overhead.sh [runs]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/mvm-verify" .
cat >"$tmp/suite.yml" <<'YAML'
user: root
steps:
  - name: trivial
    run: "true"
YAML
printf '%-4s %10s %10s %10s\n' run wall_ms remote_ms overhead_ms
for i in $(seq "$runs"); do
  out="$tmp/out-$i"
  "$tmp/mvm-verify" run --provider local --suite "$tmp/suite.yml" --out "$out" \
    --local-state-dir "$tmp/state" >/dev/null
  python3 - "$out/result.json" "$i" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
wall = r["duration_ns"] / 1e6
remote = r["remote_time_ns"] / 1e6
print(f'{sys.argv[2]:<4} {wall:10.0f} {remote:10.0f} {wall - remote:10.0f}')
PY
done
