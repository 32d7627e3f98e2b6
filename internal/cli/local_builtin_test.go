package cli_test

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// `run --provider local` with no --suite is the quick start's one command:
// it runs the built-in suite, after one warning, printed before anything
// starts, that names what that suite installs and writes on this machine
// (from the suite itself) and that local does not undo it. The run must get
// past its inputs to the cycle — but not to the suite's apt-get on the
// test machine: a probe binary built for FreeBSD passes the inputs' check
// (an ELF executable) and is refused by the preflight, the cycle's first
// check, before anything is created or changed.
func TestLocalBuiltInSuiteWarnsAndRuns(t *testing.T) {
	testhost.RequireRoot(t)
	tmp := t.TempDir()
	probe := freeBSDBuild(t, tmp)
	out := filepath.Join(tmp, "out")
	for _, mode := range []string{"run", "up"} {
		t.Run(mode, func(t *testing.T) {
			out := filepath.Join(out, mode)
			r := runBin(t, cmdEnv(t, "TMPDIR="+tmp), mode, "--provider", "local", "--out", out,
				"--local-state-dir", filepath.Join(tmp, "state"), "--probe-binary", probe)
			if strings.Contains(r.stderr, `input "suite"`) {
				t.Fatalf("%s --provider local without --suite was refused for its suite:\n%s", mode, r.stderr)
			}
			// The preflight refused the probe binary: the cycle started.
			if r.code != 2 || !strings.Contains(r.stdout+r.stderr, "freebsd") {
				t.Fatalf("exit %d, want 2 from the preflight's refusal of the FreeBSD probe binary\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			if got := phaseStatus(t, filepath.Join(out, "result.json"), "preflight"); got != "fail" {
				t.Errorf("preflight phase %q, want fail (the probe binary)", got)
			}
			if got := phaseStatus(t, filepath.Join(out, "result.json"), "ready"); got != "" {
				t.Errorf("ready phase %q: the built-in suite's packages were installed on the test machine", got)
			}
			if n := strings.Count(r.stderr, "built-in suite"); n != 1 {
				t.Errorf("%d warnings about the built-in suite, want one:\n%s", n, r.stderr)
			}
			for _, w := range []string{"mvm-verify: warning: provider local without --suite runs the built-in suite",
				"apt-get installs", "build-essential", "/usr/local/bin/firecracker", "/etc/udev/rules.d/65-mvm-kvm.rules",
				"does not undo", "--suite examples/quickstart.yml"} {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("the warning lacks %q:\n%s", w, r.stderr)
				}
			}
			if left := processesMentioning(t, tmp); len(left) > 0 {
				t.Errorf("processes of the run still running: %v", left)
			}
		})
	}
}

// freeBSDBuild is a copy of the binary marked as a FreeBSD executable.
func freeBSDBuild(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	data[elf.EI_OSABI] = byte(elf.ELFOSABI_FREEBSD)
	path := filepath.Join(dir, "mvm-verify-freebsd")
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}
