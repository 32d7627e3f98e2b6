#!/usr/bin/env bash
# Measures what a user's shell startup files cost a remote command: for root
# and for a fresh user with Debian's default (clean) startup files, the time
# of `bash -ic true` and `bash -lc true` run locally, and of `true` and
# `bash -lc true` over an OpenSSH ControlMaster to a throwaway sshd on a
# loopback address. Needs root, sshd (openssh-server) and ssh.
# Reads root's startup files but never changes them.
#
# Usage: bash bench/startup.sh [iterations]   (default 20)
set -euo pipefail
n=${1:-20}
clean=mvr-startup
if id "$clean" >/dev/null 2>&1; then
  echo "user $clean exists; this script creates and removes it, so remove it first" >&2
  exit 2
fi
tmp=$(mktemp -d)
chmod 755 "$tmp"
addr=127.0.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20))
port=$((RANDOM % 10000 + 20000))
cleanup() {
  [[ -f $tmp/sshd.pid ]] && kill "$(cat "$tmp/sshd.pid")" 2>/dev/null || true
  userdel -r "$clean" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
useradd -m -s /bin/bash -p '*' "$clean"
ssh-keygen -q -t ed25519 -N '' -f "$tmp/host"
ssh-keygen -q -t ed25519 -N '' -f "$tmp/id"
cp "$tmp/id.pub" "$tmp/authorized_keys"
chmod 644 "$tmp/authorized_keys"
cat >"$tmp/sshd_config" <<EOF
ListenAddress $addr
Port $port
HostKey $tmp/host
AuthorizedKeysFile $tmp/authorized_keys
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile $tmp/sshd.pid
EOF
/usr/sbin/sshd -f "$tmp/sshd_config" -E "$tmp/sshd.log"
for _ in $(seq 50); do [[ -s $tmp/sshd.pid ]] && break; sleep 0.1; done

# ms prints the mean wall time in ms of n runs of the command.
ms() {
  local start end
  start=$(date +%s%N)
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 </dev/null; done
  end=$(date +%s%N)
  echo $(((end - start) / n / 1000000))
}

printf '%-12s %12s %12s %16s %22s\n' user 'bash -ic' 'bash -lc' 'ssh CM: true' 'ssh CM: bash -lc true'
for u in root "$clean"; do
  home=$(getent passwd "$u" | cut -d: -f6)
  # A local shell started as sshd starts one: the user's own, with a bare
  # environment.
  local_sh=(setpriv --reuid "$u" --regid "$u" --init-groups env -i HOME="$home" USER="$u"
    PATH=/usr/local/bin:/usr/bin:/bin SHELL=/bin/bash bash)
  o=(-F /dev/null -o BatchMode=yes -o LogLevel=ERROR -o StrictHostKeyChecking=no
    -o UserKnownHostsFile=/dev/null -i "$tmp/id" -p "$port" -l "$u"
    -o ControlPath="$tmp/cm-$u")
  ssh "${o[@]}" -o ControlMaster=yes -o ControlPersist=120 "$addr" true
  printf '%-12s %12s %12s %16s %22s\n' "$u" \
    "$(ms "${local_sh[@]}" -ic true)" "$(ms "${local_sh[@]}" -lc true)" \
    "$(ms ssh "${o[@]}" "$addr" true)" "$(ms ssh "${o[@]}" "$addr" 'bash -lc true')"
  ssh "${o[@]}" -O exit "$addr" 2>/dev/null || true
done
echo "(ms per command, mean of $n; bash $(bash -c 'echo $BASH_VERSION'), $(ssh -V 2>&1))"
