package verify

import (
	"fmt"
	"strings"

	"github.com/tinylabscom/mvm-verify/internal/remote"
)

// Shell scripts the cycle runs on the host, built as strings.

// bootstrapFailed starts the line the bootstrap script prints when it
// ends with an error, naming the entry it was in.
const bootstrapFailed = "mvm-verify: bootstrap entry "

// bootstrapScript is the bootstrap as cloud-init's runcmd script would be:
// set -e, then the entries one after the other. Before each entry the
// script notes which one runs, and an exit trap prints it when the script
// fails, so the error can name the entry.
func bootstrapScript(entries []string) string {
	var b strings.Builder
	b.WriteString("set -e\n")
	fmt.Fprintf(&b, "trap 'st=$?; [ $st -eq 0 ] || echo \"%s$mvm_verify_entry of %d failed (exit $st)\" >&2' EXIT\n", bootstrapFailed, len(entries))
	for i, e := range entries {
		fmt.Fprintf(&b, "mvm_verify_entry=%d\n%s\n", i+1, e)
	}
	return b.String()
}

// createdUserMarker records on the host that we created the user, so the
// teardown never removes an account it did not make.
func createdUserMarker(user string) string {
	return "/var/lib/mvm-verify/created-user-" + user
}

func sudoersDropIn(user string) string {
	return "/etc/sudoers.d/90-mvm-verify-" + user
}

func createUserScript(user string) string {
	return fmt.Sprintf(`set -e
u=%s
install -d -m 0755 /var/lib/mvm-verify
touch %s
useradd --create-home --shell /bin/bash --user-group "$u"
for g in sudo kvm; do
  if getent group "$g" >/dev/null; then usermod -aG "$g" "$u"; fi
done
tmp=$(mktemp)
# The leg's marker survives sudo, so what a step starts as root is found
# and stopped at teardown with the rest.
printf '%%s ALL=(ALL) NOPASSWD:ALL
Defaults:%%s env_keep += "%s"
' "$u" "$u" >"$tmp"
chmod 0440 "$tmp"
if command -v visudo >/dev/null; then visudo -cqf "$tmp"; fi
mv "$tmp" %s
`, remote.Quote(user), remote.Quote(createdUserMarker(user)), legMarkerVar, remote.Quote(sudoersDropIn(user)))
}

func removeUserScript(user string) string {
	return fmt.Sprintf(`u=%s
m=%s
[ -e "$m" ] || exit 0
rm -f %s
pkill -KILL -u "$u" || true
# userdel refuses while the killed processes are still exiting.
for i in $(seq 50); do
  id -u "$u" >/dev/null 2>&1 || break
  userdel --remove "$u" 2>/dev/null || sleep 0.1
done
if id -u "$u" >/dev/null 2>&1; then userdel --remove "$u"; exit 1; fi
rm -f "$m"
`, remote.Quote(user), remote.Quote(createdUserMarker(user)), remote.Quote(sudoersDropIn(user)))
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = remote.Quote(s)
	}
	return out
}
