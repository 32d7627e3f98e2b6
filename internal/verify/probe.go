package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/probe"
	"github.com/tinylabscom/mvm-verify/internal/remote"
)

// The probe phase: run this program's probe on the host and check its lane.

// probe uploads this program to the host and runs its probe as the suite's
// user. The lane is already decided (Run resolves auto from what the
// provider offers); the probe confirms it: on the kvm lane a host without
// usable KVM fails the KVM check.
func (c *cycle) probe(ctx context.Context) error {
	f, err := os.Open(c.plan.ProbeBinary)
	if err != nil {
		if c.plan.ProbeBinaryInput != "" {
			return fmt.Errorf("input %q: open probe binary: %w", c.plan.ProbeBinaryInput, err)
		}
		return fmt.Errorf("open probe binary: %w", err)
	}
	defer f.Close()
	uname, err := c.hostUname(ctx)
	if err != nil {
		return err
	}
	if err := checkProbePlatform(c.plan.ProbeBinary, c.plan.ProbeBinaryInput, uname); err != nil {
		return err
	}
	if err := checkProbeLinking(c.plan.ProbeBinary, c.plan.ProbeBinaryInput, c.host.Address); err != nil {
		return err
	}
	dir := c.host.WorkDir // the provider's, which its Destroy removes
	if dir == "" {
		dir = "/tmp/mvm-verify-" + c.plan.Identity.Name()
	}
	bin := dir + "/mvm-verify"
	if c.host.WorkDir == "" {
		c.pushHostCleanup(HostCleanup{Name: "remove probe binary", Command: "rm -rf " + remote.Quote(dir)}, dir)
	}
	uctx, cancel := withLimit(ctx, "the upload of the probe binary", c.plan.UploadTimeout)
	defer cancel()
	hb := startHeartbeat(c.out, nil, c.plan.Actions, "upload of the probe binary", c.plan.Heartbeat)
	// Compressed: an executable gzips to less than half, and over a
	// runner's link to a cloud host the upload is most of a leg's own
	// time. A host without gzip takes it over SFTP.
	start := time.Now()
	compressed, err := c.client.UploadCompressed(uctx, f, bin, 0o755)
	hb.Stop()
	if err != nil {
		return fmt.Errorf("upload probe binary: %w", err)
	}
	c.plan.log().Debug("probe binary uploaded", "file", bin, "compressed", compressed, "took", time.Since(start))
	c.probeBin = bin
	// As the suite's user, with its groups (kvm), but without a login: the
	// probe reads the kernel's interfaces at fixed paths, nothing a
	// profile sets up, and a root profile may take seconds.
	res, err := c.client.Run(ctx, remote.RunSpec{Command: remote.Quote(bin) + " probe --json", AsUser: c.plan.User, NoProfile: true, Timeout: 2 * time.Minute})
	if err != nil {
		return fmt.Errorf("run probe: %w", err)
	}
	c.addRemote(res.Duration)
	rep, err := probeReport(res.Output)
	if err != nil {
		return fmt.Errorf("probe exited %d with output that is not its JSON report: %s", res.ExitCode, c.oneLine(res.Output, 200))
	}
	c.mu.Lock()
	c.res.Probe = &rep
	lane := c.res.Lane
	c.mu.Unlock()
	fmt.Fprintf(c.out, "   lane %s (host probe: %s)\n", lane, rep.Lane)
	return kvmCheck(lane, rep)
}

// hostUname is what `uname -sm` prints on the host: from the provider when
// it knows (a session costs a round trip and a shell), else asked.
func (c *cycle) hostUname(ctx context.Context) (string, error) {
	if c.host.Uname != "" {
		return c.host.Uname, nil
	}
	res, err := c.client.Run(ctx, remote.RunSpec{Command: "uname -sm", NoProfile: true, Timeout: time.Minute})
	c.addRemote(res.Duration)
	if err != nil {
		return "", fmt.Errorf("ask the host for its platform: %w", err)
	}
	if !res.OK() {
		return "", fmt.Errorf("uname -sm on the host exited %d: %.200q", res.ExitCode, res.Output)
	}
	return lastLine(res.Output), nil
}

// probeReport finds the probe's JSON report in its output. The output is
// stdout and stderr together, and a login shell may print before the
// command runs (a startup file's complaint, a motd): the report is the
// first object that decodes from the start of a line.
func probeReport(out []byte) (probe.Report, error) {
	var err error = errors.New("no JSON object in the output")
	for i := 0; i < len(out); {
		if out[i] == '{' {
			var rep probe.Report
			// A startup file's own JSON would decode too, as an empty
			// report: the probe's always names its lane.
			if err = json.NewDecoder(bytes.NewReader(out[i:])).Decode(&rep); err == nil && rep.Lane != "" {
				return rep, nil
			}
			if err == nil {
				err = errors.New("a JSON object without the report's lane")
			}
		}
		next := bytes.IndexByte(out[i:], '\n')
		if next < 0 {
			break
		}
		i += next + 1
	}
	return probe.Report{}, err
}

// lastLine is the last non-empty line of out: what a command printed
// after anything its login shell printed first.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// kvmCheck fails a kvm-lane host whose probe found no usable KVM, saying
// why KVM is unusable and only that: the probe's other findings (cgroup,
// tun) are in its table and are not what failed here.
func kvmCheck(lane string, rep probe.Report) error {
	if lane != probe.LaneKVM || rep.Lane == probe.LaneKVM {
		return nil
	}
	why := strings.Join(rep.KVMProblems(), "; ")
	if why == "" {
		why = "the probe found no usable KVM"
	}
	return fmt.Errorf("KVM check: the kvm lane needs usable KVM and this host has none (%s); expected a host with KVM, or lane no-kvm", why)
}
