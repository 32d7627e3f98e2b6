package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// A step's own timeout stops it: the step fails, its column reads ❌, the
// notes say which step and after how long, and nothing it started is
// left running.
func TestRunLocalStepTimeout(t *testing.T) {
	// A sleep no other test runs, to find its processes by.
	sleep := fmt.Sprintf("sleep 300.%06d", time.Now().UnixNano()%1000000)
	suite := `
user: ` + freshCLISuiteUser(t) + `
steps:
  - name: ok step
    run: "true"
  - name: hangs
    run: ` + sleep + `
    timeout: 2s
    column: Live cycle
`
	// A short leg: were the step's timeout ignored, the leg would end at
	// timeout-minutes instead, naming that, rather than after 300 s.
	r := localRun(t, suite, "--timeout-minutes", "2", "--teardown-budget", "1m")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	row := rowLine(t, r.file(t, "summary.md"))
	cells := strings.Split(row, "|")
	if !strings.Contains(cells[3], "❌") {
		t.Errorf("Live cycle cell in %q is not ❌", row)
	}
	if !strings.Contains(cells[5], "hangs") || !strings.Contains(cells[5], "timed out after 2s") {
		t.Errorf("Notes in %q do not say the step hangs timed out after 2s\nstdout:\n%s", row, r.stdout)
	}
	if left := processesMentioning(t, sleep); len(left) > 0 {
		t.Errorf("the timed-out step is still running after the run: %v", left)
	}
}

// uploadUser is the suite user of the upload test: one the run creates,
// as the auditor's case had it, and a name no other test uses.
const uploadUser = "mvr-upload"

// The local provider's host is this machine, which stays: the suite's
// uploads are undone at teardown. A file uploaded by a user the run
// created goes with the directories made for it, and root's file that an
// upload replaced is put back as it was, content, mode and owner.
func TestRunLocalUndoesUploads(t *testing.T) {
	t.Run("run ends", func(t *testing.T) { testLocalUndoesUploads(t, false) })
	// A signal in the middle of the step: this machine stays, so its
	// changes are undone before the leg's sshd stops.
	t.Run("SIGTERM during the step", func(t *testing.T) { testLocalUndoesUploads(t, true) })
}

func testLocalUndoesUploads(t *testing.T, cancel bool) {
	testhost.RequireRoot(t)
	removeLocalUser := func() {
		exec.Command("userdel", "-r", "-f", uploadUser).Run()
		dropIns, _ := filepath.Glob("/etc/sudoers.d/mvm-verify-*")
		for _, path := range dropIns {
			if data, err := os.ReadFile(path); err == nil && strings.Contains(string(data), uploadUser+" ") {
				os.Remove(path)
			}
		}
	}
	removeLocalUser() // left by an earlier run killed before its teardown
	t.Cleanup(removeLocalUser)
	// Outside the test's own temp dir, which the suite user cannot enter;
	// writable by all and not sticky, so the user may replace root's file.
	base := openTempDir(t, "mvr-upload-")
	existing := testhost.ExistingUpload(t, base)
	fresh := filepath.Join(base, "x", "y.sh")
	hold, sleep := "true", fmt.Sprintf("sleep 7%d9", os.Getpid())
	if cancel {
		hold = sleep
	}
	suite := writeSuite(t, `
user: `+uploadUser+`
uploads:
  - src: payload.sh
    dst: `+fresh+`
    mode: "0755"
  - src: payload.sh
    dst: `+existing+`
steps:
  - name: sees the uploads
    run: cat `+fresh+` `+existing+`; `+hold+`
    column: Live cycle
`)
	if err := os.WriteFile(filepath.Join(filepath.Dir(suite), "payload.sh"), []byte("echo uploaded\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"run", "--provider", "local", "--suite", suite,
		"--out", out, "--local-state-dir", t.TempDir(), "--timeout-minutes", "10"}
	if cancel {
		cmd := exec.Command(bin, args...)
		cmd.Env = cmdEnv(t)
		var output strings.Builder
		cmd.Stdout, cmd.Stderr = &output, &output
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for i := 0; len(processesMentioning(t, sleep)) == 0; i++ {
			if i == 3000 {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("the step never got to hold:\n%s", output.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		if !strings.Contains(output.String(), "✓ teardown") {
			t.Errorf("teardown did not pass after SIGTERM:\n%s", output.String())
		}
	} else {
		r := runBin(t, cmdEnv(t), args...)
		if r.code != 0 {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if strings.Count(r.file(t, "summary.md"), "echo uploaded") < 2 {
			t.Errorf("the step did not see both uploads:\n%s", r.file(t, "summary.md"))
		}
	}
	if _, err := user.Lookup(uploadUser); err == nil {
		t.Errorf("user %s is still there after the run", uploadUser)
	}
	testhost.CheckUploadsUndone(t, base, existing)
}
