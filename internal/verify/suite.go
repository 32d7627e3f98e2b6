package verify

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/libtest"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/remote"
)

// The suite phase: uploads, then each step streamed and judged.

// suite uploads the suite's files and runs every step. A failed step does
// not stop the next: one expensive cycle should report every failure.
func (c *cycle) suite(ctx context.Context) error {
	// Steps may leave processes behind, or outlive a killed main: on a
	// host we did not create, the teardown (or the post step) kills what
	// carries the mark. A provider that created the host ends them with
	// it (local kills the leg's cgroup; a cloud host is deleted), so the
	// extra round trip is spared there.
	if len(c.plan.Steps) > 0 && !c.plan.Info.Creates {
		var b [16]byte
		_, _ = rand.Read(b[:])
		c.legToken = hex.EncodeToString(b[:])
		// As root where the cycle may, so what a step started through
		// sudo is stopped too; else as the suite's user, its own only.
		killAs := c.plan.User
		if c.rootOnHost || c.host.User == "root" {
			killAs = "root"
		}
		c.pushHostCleanup(HostCleanup{Name: "stop the suite's processes", Command: killLegScript(c.legToken), AsUser: killAs},
			"the suite's processes")
	}
	for _, u := range c.plan.Uploads {
		if err := c.upload(ctx, u); err != nil {
			if ctx.Err() == nil && errors.Is(err, remote.ErrConnectionLost) {
				return c.suiteLost(c.plan.Steps, err)
			}
			return err
		}
	}
	var failed []string
	for i, st := range c.plan.Steps {
		if ctx.Err() != nil {
			c.markNotRun(c.plan.Steps[i:], "cancelled")
			return ctx.Err()
		}
		if lost := c.client.Lost(); lost != nil {
			// Gone between steps: nothing more runs over it.
			return c.suiteLost(c.plan.Steps[i:], lost)
		}
		sr, lost := c.step(ctx, st)
		c.stepLine(sr)
		c.mu.Lock()
		c.res.Steps = append(c.res.Steps, sr)
		if sr.Status == matrix.Fail {
			c.res.fail("%s: %s", sr.Name, sr.Reason)
		}
		c.mu.Unlock()
		c.progress()
		if lost != nil {
			return c.suiteLost(c.plan.Steps[i+1:], fmt.Errorf("step %q: %s", st.Name, sr.Reason))
		}
		if sr.Status == matrix.Fail {
			failed = append(failed, st.Name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d steps failed: %s", len(failed), len(c.plan.Steps), strings.Join(failed, ", "))
	}
	return nil
}

func (c *cycle) upload(ctx context.Context, u Upload) error {
	f, err := os.Open(u.Src)
	if err != nil {
		return fmt.Errorf("upload %s: %w", u.Src, err)
	}
	defer f.Close()
	mode := u.Mode
	if mode == 0 {
		mode = 0o644
	}
	dst := u.Dst
	if !path.IsAbs(dst) {
		dst = "/home/" + c.plan.User + "/" + dst
	}
	ctx, cancel := withLimit(ctx, "the upload of "+u.Src, c.plan.UploadTimeout)
	defer cancel()
	if c.hostOutlives() {
		// The machine stays: the teardown removes the file, and the
		// directories made for it, or puts back the file it replaced.
		if err := c.prepareUpload(ctx, u.Src, dst); err != nil {
			return err
		}
	}
	hb := startHeartbeat(c.out, nil, c.plan.Actions, "upload of "+u.Src, c.plan.Heartbeat)
	err = c.client.Upload(ctx, f, dst, mode)
	hb.Stop()
	if err != nil {
		return fmt.Errorf("upload %s to %s: %w", u.Src, dst, err)
	}
	return nil
}

// suiteLost ends the suite on a lost SSH connection: the steps in rest
// are not run, and the leg reads errored (the infrastructure failed), not
// as steps that failed. why is the phase's error.
func (c *cycle) suiteLost(rest []Step, why error) error {
	c.markNotRun(rest, "SSH connection lost")
	var names []string
	for _, st := range rest {
		fmt.Fprintf(c.out, "   - %s: not run (SSH connection lost)\n", st.Name)
		names = append(names, st.Name)
	}
	c.mu.Lock()
	c.res.ConnectionLost = why.Error()
	c.mu.Unlock()
	c.progress()
	if len(names) == 0 {
		return why
	}
	return fmt.Errorf("%w; not run: %s", why, strings.Join(names, ", "))
}

func (c *cycle) markNotRun(steps []Step, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range steps {
		c.res.Steps = append(c.res.Steps, StepResult{Name: st.Name, Column: st.Column, Status: matrix.NotRun, Reason: reason})
	}
}

// step runs one step and reads its verdict. lost is set when the SSH
// connection was lost under the step: the step then has no verdict
// (unknown), its reason saying so.
func (c *cycle) step(ctx context.Context, st Step) (_ StepResult, lost *remote.LostError) {
	sr := StepResult{Name: st.Name, Column: st.Column}
	if st.NeedsKVM && c.res.Lane == "no-kvm" {
		sr.Status, sr.Reason = matrix.NA, "needs KVM; this is the no-KVM lane"
		return sr, nil
	}
	timeout := st.Timeout
	if timeout <= 0 {
		timeout = DefaultStepTimeout
	}
	env := map[string]string{}
	if c.probeBin != "" {
		env["MVM_VERIFY_BIN"] = c.probeBin // steps may run the probe themselves
	}
	for k, v := range st.Env {
		env[k] = v
	}
	if c.legToken != "" {
		env[legMarkerVar] = c.legToken
	}
	res, err := c.runStreamed(ctx, st.Name, remote.RunSpec{Command: st.Run, AsUser: c.plan.User, Timeout: timeout, Env: env})
	sr.Duration, sr.ExitCode, sr.Output = res.Duration, res.ExitCode, string(res.Output)
	c.addRemote(res.Duration)
	switch {
	case err != nil && ctx.Err() == nil && errors.As(err, &lost):
		// The host's sshd or the network went away: no verdict on the
		// step, and no failure of it.
		sr.Status, sr.Reason = matrix.Unknown, fmt.Sprintf("SSH connection to %s lost during step: %v", lost.Addr, lost.Cause)
		return sr, lost
	case err != nil:
		sr.Status, sr.Reason = matrix.Fail, describe(ctx, err)
		if ctx.Err() != nil {
			sr.Status = matrix.NotRun
		}
		return sr, nil
	case res.TimedOut:
		sr.Status, sr.Reason = matrix.Fail, "timed out after "+timeout.String()
		return sr, nil
	}
	switch st.Parse {
	case "libtest":
		sum := libtest.Parse(res.Output)
		sr.Tests = &sum
		v, why := sum.Verdict(res.ExitCode)
		sr.Status, sr.Reason = verdictStatus(v), why
		return sr, nil
	case "passfail":
		sr.Status, sr.Reason = passFailVerdict(res.Output, res.ExitCode)
		return sr, nil
	}
	if res.ExitCode == 0 {
		sr.Status = matrix.Pass
	} else {
		sr.Status, sr.Reason = matrix.Fail, fmt.Sprintf("exit status %d", res.ExitCode)
	}
	return sr, nil
}

// maxFailLine is how much of a FAIL line a step's reason quotes: the
// reason is the leg's first failure, in the notes and the commit status.
const maxFailLine = 120

// passFailVerdict reads a step parsed as passfail, a script that reports
// its checks as lines starting with PASS or FAIL (scripts/smoke-exec.sh):
// the exit status alone would count a script that printed FAIL and exited
// 0 as a pass. A non-zero exit fails the step; so does a FAIL line (after
// optional spaces; colours ignored) whatever the exit, the reason quoting
// the first one. Exit 0 with no PASS line checked nothing the script said,
// so it reads not run, never a pass.
//
// A verdict is the word alone (see verdictWord): "FAILED: 0" or "FAILOVER
// ok" is a count or a word the script printed, not a check that failed,
// and "PASSWORD set" is no check that passed.
func passFailVerdict(output []byte, exitCode int) (matrix.Status, string) {
	var fails []string
	passes := 0
	for _, line := range strings.Split(string(output), "\n") {
		line = strings.TrimSpace(libtest.StripANSI(line))
		switch {
		case verdictWord(line, "FAIL"):
			fails = append(fails, line)
		case verdictWord(line, "PASS"):
			passes++
		}
	}
	var failed string
	if len(fails) > 0 {
		failed = strconv.Quote(matrix.Truncate(fails[0], maxFailLine))
		if len(fails) > 1 {
			failed = fmt.Sprintf("%d FAIL lines, the first %s", len(fails), failed)
		}
	}
	switch {
	case exitCode != 0 && failed != "":
		return matrix.Fail, fmt.Sprintf("exit status %d; printed %s", exitCode, failed)
	case exitCode != 0:
		return matrix.Fail, fmt.Sprintf("exit status %d", exitCode)
	case failed != "":
		return matrix.Fail, "printed " + failed + " (exit status 0)"
	case passes == 0:
		// The status says not run; the reason says why, without saying
		// it again ("not run (… not run)").
		return matrix.NotRun, "exit status 0 with no PASS line: nothing was checked"
	}
	return matrix.Pass, ""
}

// verdictWord reports whether line (trimmed) starts with the word word:
// followed by the line's end, a space or tab, ":" or "-" ("FAIL",
// "FAIL exec", "PASS: boot", "FAIL - no reply"), not by more of a word.
func verdictWord(line, word string) bool {
	rest, ok := strings.CutPrefix(line, word)
	if !ok {
		return false
	}
	return rest == "" || strings.ContainsRune(" \t:-", rune(rest[0]))
}

// stepLine prints the step's verdict as it ends, after its output's group
// is closed: a step that printed nothing shows too, and in Actions the
// line stays visible with the group collapsed.
func (c *cycle) stepLine(sr StepResult) {
	switch sr.Status {
	case matrix.Pass:
		tests := ""
		if sr.Tests != nil {
			tests = fmt.Sprintf(", %d passed", sr.Tests.Passed)
		}
		fmt.Fprintf(c.out, "   ✓ %s (%s%s)\n", sr.Name, sr.Duration.Round(time.Millisecond), tests)
	case matrix.Fail:
		fmt.Fprintf(c.out, "   ✗ %s: %s\n", sr.Name, sr.Reason)
	case matrix.NA:
		fmt.Fprintf(c.out, "   - %s: n/a (no KVM)\n", sr.Name)
	case matrix.Unknown:
		fmt.Fprintf(c.out, "   ? %s: %s\n", sr.Name, sr.Reason)
	default:
		if strings.Contains(sr.Reason, "not run") {
			// libtest's reasons say it already ("running 0 tests is not
			// run, never a pass").
			fmt.Fprintf(c.out, "   - %s: %s\n", sr.Name, sr.Reason)
			return
		}
		fmt.Fprintf(c.out, "   - %s: not run (%s)\n", sr.Name, cmp.Or(sr.Reason, "no verdict"))
	}
}

func verdictStatus(v libtest.Verdict) matrix.Status {
	switch v {
	case libtest.Pass:
		return matrix.Pass
	case libtest.Fail:
		return matrix.Fail
	}
	return matrix.NotRun
}
