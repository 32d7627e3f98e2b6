package testhost

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// envRerun names, in a test binary RerunInMountNamespace started, the test
// it re-runs.
const envRerun = "MVM_TESTHOST_RERUN"

// RerunInMountNamespace runs the calling test again, alone, in a child test
// process inside a private mount namespace, after script (sh -e, with env
// added to the environment) has set the namespace up as root. It returns
// true in the child, where the test goes on. In the parent it waits for the
// child, logs its output, fails the test when the child failed or did not
// run it, and returns false: the caller returns at once. Nothing the script
// mounts reaches the machine's mount table, and all of it goes with the
// child.
func RerunInMountNamespace(t *testing.T, script string, env ...string) bool {
	t.Helper()
	if os.Getenv(envRerun) == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		t.Fatal("a private mount namespace needs root: run the tests as root, as CI does")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatal("unshare is not installed (Debian package util-linux; .ci/run installs it)")
	}
	// The -run pattern matches each level of the test's name whole.
	var parts []string
	for _, p := range strings.Split(t.Name(), "/") {
		parts = append(parts, "^"+regexp.QuoteMeta(p)+"$")
	}
	cmd := exec.CommandContext(t.Context(), unshare, "--mount", "--propagation", "private", "--",
		"/bin/sh", "-ec", script+"\nexec \"$@\"", "mount-namespace",
		os.Args[0], "-test.run="+strings.Join(parts, "/"), "-test.v", "-test.count=1")
	cmd.Env = append(append(os.Environ(), envRerun+"="+t.Name()), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("the test in its mount namespace:\n%s", out)
	if err != nil {
		t.Fatalf("the test failed in its mount namespace: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()+" ") {
		t.Fatalf("the test did not run in its mount namespace")
	}
	return false
}

// StandInKVMScript, run by RerunInMountNamespace with the environment
// StandInKVM returns, gives the namespace a /dev of its own: a tmpfs holding
// every entry of the machine's /dev but kvm, bind-mounted (so they are the
// machine's own devices, submounts and all), and at /dev/kvm the test's
// stand-in node. A test so sees a /dev/kvm whether or not this machine has
// KVM, and whatever it does to that node's owner or mode never reaches the
// machine's. /dev is devtmpfs, one instance for the whole machine: a node
// made in it, even from a private mount namespace, would be the machine's.
const StandInKVMScript = `
dev="$KVM_STANDIN_DEV"
mount -t tmpfs -o mode=0755,nosuid standin-dev "$dev"
for e in /dev/* /dev/.[!.]*; do
	name="${e#/dev/}"
	case "$name" in kvm|pts|ptmx) continue ;; esac
	if [ ! -e "$e" ] && [ ! -L "$e" ]; then
		continue
	fi
	if [ -L "$e" ]; then
		cp -P "$e" "$dev/$name"
	elif [ -d "$e" ]; then
		mkdir "$dev/$name"
		mount --rbind "$e" "$dev/$name"
	else
		: >"$dev/$name"
		mount --bind "$e" "$dev/$name"
	fi
done
# A bound ptmx would not find its devpts: ptys get an instance of their own.
mkdir -m 0755 "$dev/pts"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$dev/pts"
ln -s pts/ptmx "$dev/ptmx"
: >"$dev/kvm"
mount --bind "$KVM_STANDIN" "$dev/kvm"
mount --move "$dev" /dev
`

// StandInKVM makes the test's stand-in for /dev/kvm: a character node with
// the null device's numbers (present, opens, but no KVM API behind it and
// writes go nowhere) owned by uid:gid with mode perm, in the test's temp
// dir. It returns the environment StandInKVMScript needs.
func StandInKVM(t *testing.T, uid, gid int, perm os.FileMode) []string {
	t.Helper()
	dir := t.TempDir()
	node := filepath.Join(dir, "kvm")
	if err := syscall.Mknod(node, syscall.S_IFCHR|0o600, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatalf("make the stand-in /dev/kvm: %v", err)
	}
	if err := os.Chown(node, uid, gid); err != nil {
		t.Fatal(err)
	}
	// Chmod after mknod: the umask does not apply.
	if err := os.Chmod(node, perm); err != nil {
		t.Fatal(err)
	}
	dev := filepath.Join(dir, "dev")
	if err := os.Mkdir(dev, 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{"KVM_STANDIN=" + node, "KVM_STANDIN_DEV=" + dev}
}

// InStandInKVM re-runs the calling test in a mount namespace whose /dev/kvm
// is a stand-in node root:root 0666 (see StandInKVMScript), so what hides
// or opens /dev/kvm is exercised whether or not this machine has KVM. Like
// RerunInMountNamespace it returns true in the child, false in the parent.
func InStandInKVM(t *testing.T) bool {
	t.Helper()
	return InStandInKVMOwned(t, 0, 0, 0o666, "")
}

// InStandInKVMOwned is InStandInKVM with a stand-in owned by uid:gid with
// mode perm, for tests that need /dev/kvm as some machine has it rather
// than open to all. more, when not empty, runs (sh -e, with env) after the
// stand-in is in place, to set up the rest of the namespace.
func InStandInKVMOwned(t *testing.T, uid, gid int, perm os.FileMode, more string, env ...string) bool {
	t.Helper()
	if os.Getenv(envRerun) == t.Name() {
		return true
	}
	return RerunInMountNamespace(t, StandInKVMScript+more, append(StandInKVM(t, uid, gid, perm), env...)...)
}
