package providertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/sshd"
)

// The binary is built once per test process, on first use, so tests that
// do not run it do not wait for it.
var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// Module is the import path of the mvm-verify command.
const Module = "github.com/tinylabscom/mvm-verify"

// Binary returns the path of mvm-verify built as the Dockerfile builds it
// (CGO_ENABLED=0, -trimpath, stripped by -ldflags "-s -w"): the binary the
// image ships, and the probe binary a leg uploads, a third smaller
// stripped. Beside it is
// mvm-verify-post, the same binary under the post step's name. Call
// RemoveBinary from TestMain when the tests are done.
func Binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "mvm-verify-providertest-"); binErr != nil {
			return
		}
		bin := filepath.Join(binDir, "mvm-verify")
		build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, Module)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := build.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		binErr = os.Link(bin, filepath.Join(binDir, "mvm-verify-post"))
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "mvm-verify")
}

// PostBinary is the post step's name of the binary at bin.
func PostBinary(bin string) string { return filepath.Join(filepath.Dir(bin), "mvm-verify-post") }

// RemoveBinary removes what Binary built, if anything.
func RemoveBinary() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// RequireTestHosts fails t unless fakes can boot real test hosts here:
// root (sshd per host, users created) and OpenSSH's sshd.
func RequireTestHosts(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("test hosts run sshd and create users: run the tests as root (CI does)")
	}
	if _, err := sshd.FindBinary(); err != nil {
		t.Fatalf("%v: install Debian's openssh-server", err)
	}
}
