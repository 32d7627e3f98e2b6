#!/usr/bin/env bash
# Measures what GitHub reporting adds to a leg (see bench/ghoverhead/main.go):
# a local leg with a trivial suite as an Actions job on a PR, reporting to the
# fake GitHub API answering at once, then to an unreachable API. Needs root
# (the local provider) and sshd.
#
# Usage: bash bench/ghoverhead.sh [runs]   (default 3 per API)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The binary that ships (Dockerfile): static, stripped; the probe upload is its size.
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/mvm-verify" .
go build -o "$tmp/ghoverhead" ./bench/ghoverhead
"$tmp/ghoverhead" -bin "$tmp/mvm-verify" -runs "$runs" -api instant
"$tmp/ghoverhead" -bin "$tmp/mvm-verify" -runs "$runs" -api refused
