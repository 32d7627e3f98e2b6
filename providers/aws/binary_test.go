package aws_test

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
	"github.com/tinylabscom/mvm-verify/providers/providertest"
)

// awsConfigDir holds no AWS shared files: isolatedAWS points the SDK at
// files in it that do not exist. Made by TestMain.
var awsConfigDir string

func TestMain(m *testing.M) {
	// The SDK reads the process environment and ~/.aws as well as what the
	// tests inject: keep this machine's AWS settings out, and the instance
	// metadata service (169.254.169.254, not loopback) off.
	var err error
	awsConfigDir, err = os.MkdirTemp("", "mvm-verify-aws-config-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			os.Unsetenv(k)
		}
	}
	for _, kv := range isolatedAWS(awsConfigDir) {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	code := m.Run()
	os.RemoveAll(awsConfigDir)
	// The whole-binary tests run mvm-verify as a user or GitHub's runner
	// would, against the fake EC2 served from this test process; the
	// binary is built on first use (providertest.Binary).
	providertest.RemoveBinary()
	os.Exit(code)
}

// isolatedAWS is the environment that keeps the SDK off this machine's
// AWS configuration and off the instance metadata service: shared files
// that do not exist, in dir.
func isolatedAWS(dir string) []string {
	return []string{"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "no-credentials")}
}

// binaryFake serves EC2 for the binary. Its hosts get the ready marker the
// user data names (what cloud-init's last runcmd does) unless ready is false.
func binaryFake(t *testing.T, ready bool) *fake.Server {
	t.Helper()
	return binaryFakeWith(t, ready, nil)
}

// binaryFakeWith is binaryFake with afterBoot also run on each booted host.
func binaryFakeWith(t *testing.T, ready bool, afterBoot func(fakecloud.BootSpec, fakecloud.Machine) error) *fake.Server {
	t.Helper()
	return binaryFakeConfig(t, fake.Config{}, ready, afterBoot)
}

// binaryFakeConfig is binaryFakeWith for a fake account configured by cfg
// (its Booter is set here: providertest's, booting real test hosts).
func binaryFakeConfig(t *testing.T, cfg fake.Config, ready bool, afterBoot func(fakecloud.BootSpec, fakecloud.Machine) error) *fake.Server {
	t.Helper()
	cfg.Booter = providertest.Booter(t, providertest.BootOptions{Ready: ready, AfterBoot: afterBoot})
	srv := fake.New(cfg)
	t.Cleanup(srv.Close)
	cleanProbeDirs(t, srv)
	return srv
}

// baseEnv is a clean environment with the credentials
// aws-actions/configure-aws-credentials would export.
func baseEnv(t *testing.T, extra ...string) []string {
	return providertest.BaseEnv(t, append(awsFake{}.Env(), extra...)...)
}

// cliArgs are the flags of `mvm-verify run --provider aws` against srv.
func cliArgs(t *testing.T, srv *fake.Server, suite string) []string {
	return providertest.RunArgs(t, awsCloud(), asFake(srv), suite)
}

// TestBinaryDiskSize: the disk-gb input, as the runner passes it
// (INPUT_DISK-GB), sizes the root volume: RunInstances asks for it and the
// volume EC2 made has it.
func TestBinaryDiskSize(t *testing.T) {
	// The teardown deletes the volume: look at it while its host boots.
	var fakeSrv atomic.Pointer[fake.Server]
	var mu sync.Mutex
	var atBoot []fake.Volume
	srv := binaryFakeWith(t, true, func(fakecloud.BootSpec, fakecloud.Machine) error {
		mu.Lock()
		defer mu.Unlock()
		atBoot = fakeSrv.Load().Volumes()
		return nil
	})
	fakeSrv.Store(srv)
	bin := providertest.Binary(t)
	dir := t.TempDir()
	main := providertest.Start(t, bin, actionEnv(t, srv, dir, "INPUT_DISK-GB=80"), nil)
	if code := main.Wait(t); code != 0 {
		t.Fatalf("exit %d\n%s\nstderr:\n%s", code, main.Output(), main.Stderr())
	}
	insts := srv.Instances()
	if len(insts) != 1 {
		t.Fatalf("instances = %d, want 1", len(insts))
	}
	if got := insts[0].Request["BlockDeviceMapping.1.Ebs.VolumeSize"]; got != "80" {
		t.Errorf("RunInstances BlockDeviceMapping.1.Ebs.VolumeSize = %q, want 80", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(atBoot) != 1 || atBoot[0].ID != insts[0].VolumeID || atBoot[0].SizeGB != 80 {
		t.Errorf("volumes while the host booted = %+v, want the instance's root volume of 80 GB", atBoot)
	}
	if left := leftInFake(srv); len(left) > 0 {
		t.Errorf("left in the fake: %v", left)
	}
}

// TestBinaryLostLaunchAnswer: EC2 launches but its answer to RunInstances
// is lost more times than the SDK retries, so the run's candidate loop
// launches again. The retries carry the same ClientToken and name the same
// instance: the run passes on the one instance EC2 launched (billed once),
// and nothing is left.
func TestBinaryLostLaunchAnswer(t *testing.T) {
	srv := binaryFake(t, true)
	srv.Inject(fakecloud.Fault{Op: "RunInstances", Applied: true, Times: 8, Status: 500, Code: "InternalError",
		Message: "An internal error has occurred"})
	bin := providertest.Binary(t)
	p := providertest.Start(t, bin, baseEnv(t), cliArgs(t, srv, providertest.SuiteFile(t, "echo on the one host")))
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit %d\n%s\nstderr:\n%s", code, p.Output(), p.Stderr())
	}
	if n := count(srv.Ops(), "RunInstances"); n != 9 {
		t.Errorf("RunInstances calls = %d, want 9 (8 answers lost)", n)
	}
	insts := srv.Instances()
	if len(insts) != 1 {
		t.Fatalf("instances = %d, want the one launched before its answers were lost", len(insts))
	}
	if !regexp.MustCompile(`(?m)^\s+host \S+ ` + insts[0].ID + ` `).MatchString(p.Output()) {
		t.Errorf("the run's host is not instance %s\n%s", insts[0].ID, p.Output())
	}
	if left := leftInFake(srv); len(left) > 0 {
		t.Errorf("left in the fake: %v", left)
	}
}

// actionEnv is the runner's environment for the action's main and post
// steps against srv, with its files in dir (providertest.ActionEnv).
func actionEnv(t *testing.T, srv *fake.Server, dir string, extra ...string) []string {
	t.Helper()
	return providertest.ActionEnv(t, awsCloud(), asFake(srv), dir, extra...)
}

// TestBinaryLeakFailsTheStep: a delete that answers success but keeps the
// group is caught by the leak check, which fails both main and post,
// naming the group.
func TestBinaryLeakFailsTheStep(t *testing.T) {
	srv := binaryFake(t, true)
	srv.Inject(fakecloud.Fault{Op: "DeleteSecurityGroup", Pretend: true})
	bin := providertest.Binary(t)
	dir := t.TempDir()
	env := actionEnv(t, srv, dir)
	main := providertest.Start(t, bin, env, nil)
	code := main.Wait(t)
	groups := srv.Groups()
	if len(groups) != 1 {
		t.Fatalf("groups = %+v, want the one the pretend delete kept", groups)
	}
	sg := groups[0].ID
	summary := func() string {
		b, err := os.ReadFile(filepath.Join(dir, "summary"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if all := main.Output() + main.Stderr() + summary(); code != 1 || !strings.Contains(all, sg) {
		t.Errorf("main: exit %d, want 1 with an error naming %s\n%s", code, sg, all)
	}
	if err := os.WriteFile(filepath.Join(dir, "summary"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	post := exec.Command(providertest.PostBinary(bin))
	post.Env = providertest.PostEnv(env, providertest.ReadState(t, filepath.Join(dir, "state")))
	out, err := post.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("post: %v, want exit 1\n%s", err, out)
	}
	if sum := summary(); !strings.Contains(sum, "LEAKED") || !strings.Contains(sum, "security-group "+sg) {
		t.Errorf("post summary does not name the leaked group %s:\n%s\noutput:\n%s", sg, sum, out)
	}
}

// TestBinaryNoCredentialsSaysSoFirst: with no credentials anywhere, the
// SDK tries the instance metadata service, which here refuses (403, from a
// loopback stand-in), and logs its own warning about falling back to
// IMDSv1; the user sees our message, not the SDK's line ahead of it.
func TestBinaryNoCredentialsSaysSoFirst(t *testing.T) {
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "forbidden", http.StatusForbidden)
	}))
	t.Cleanup(imds.Close)
	srv := fake.New(fake.Config{Booter: idleBooter})
	defer srv.Close()
	dir := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + t.TempDir(),
		"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + imds.URL,
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "no-credentials")}
	p := providertest.Start(t, providertest.Binary(t), env, cliArgs(t, srv, providertest.SuiteFile(t, "true")))
	if code := p.Wait(t); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	all := p.Output() + p.Stderr()
	if !strings.Contains(all, "Needs AWS credentials") {
		t.Fatalf("no credentials message:\n%s", all)
	}
	for _, line := range strings.Split(p.Stderr(), "\n") {
		if strings.HasPrefix(line, "SDK ") {
			t.Errorf("the SDK's own log line reached stderr: %s", line)
		}
	}
}

// TestBinaryZoneStaysInItsRegion: the zone input belongs to the region
// input, so a candidate in another region that names no zone is not
// refused for it and launches where EC2 has room. us-east-1b (the zone
// input) has no capacity: the run moves on to eu-west-1, picks a zone
// there, and passes.
func TestBinaryZoneStaysInItsRegion(t *testing.T) {
	srv := binaryFake(t, true)
	srv.NoCapacity("us-east-1b", "", "")
	bin := providertest.Binary(t)
	args := append(cliArgs(t, srv, providertest.SuiteFile(t, "true")), "--zone", "us-east-1b",
		"--candidates", "[{region: us-east-1}, {region: eu-west-1}]")
	p := providertest.Start(t, bin, baseEnv(t), args)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit %d, want 0\n%s\nstderr:\n%s", code, p.Output(), p.Stderr())
	}
	insts := srv.Instances()
	if len(insts) != 1 || insts[0].Zone != "eu-west-1a" {
		t.Errorf("instances = %+v, want one in eu-west-1a", insts)
	}
	if left := leftInFake(srv); len(left) > 0 {
		t.Errorf("left in the fake: %v", left)
	}
	sum, err := os.ReadFile(filepath.Join(args[slices.Index(args, "--out")+1], "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	// The first candidate's partial attempt (its security group) was
	// deleted before the second was tried, and the summary says so.
	for _, want := range []string{"| 1 | us-east-1 | us-east-1b | c8i.large | on-demand | ❌ capacity", "— partial attempt deleted |",
		"| 2 | eu-west-1 | eu-west-1a | c8i.large | on-demand | ✅ created"} {
		if !strings.Contains(string(sum), want) {
			t.Errorf("Candidates tried lacks %q:\n%s", want, sum)
		}
	}
}

// TestBinarySIGTERMProductionPoll: SIGTERM during the suite with polls
// seconds apart, as in production, so the 7 s cancel budget cannot hold
// the young run's quiet sweeps. Main still exits by itself within the
// runner's grace (else it is killed there, as the runner would, and the
// test fails). The teardown must not fail for it: it passes, or hands
// what it could not confirm to the post step; host-side
// cleanups are skipped on the destroyed host; and after the post step
// nothing is left.
func TestBinarySIGTERMProductionPoll(t *testing.T) {
	srv := binaryFake(t, true)
	bin := providertest.Binary(t)
	dir := t.TempDir()
	env := actionEnv(t, srv, dir, "INPUT_SUITE="+providertest.SuiteFile(t, "echo suite-started; sleep 600"), "MVM_VERIFY_POLL_INTERVAL=2s")
	p := providertest.Start(t, bin, env, nil, "suite-started")
	p.WaitFor(t, "suite-started")
	p.Terminate()
	code, killed := p.WaitGrace(t)
	out := p.Output()
	if killed {
		t.Errorf("main still ran %s after SIGTERM: the runner would have killed it; its teardown must stop at its cancel budget\n%s\nstderr:\n%s",
			providertest.RunnerGrace, out, p.Stderr())
	} else if code == 0 {
		t.Errorf("exit 0 after SIGTERM")
	}
	if !strings.Contains(out, "==> teardown") {
		t.Fatalf("no teardown after SIGTERM\n%s\nstderr:\n%s", out, p.Stderr())
	}
	if strings.Contains(out, "✗ teardown") || !strings.Contains(out, "✓ teardown") {
		t.Errorf("the teardown failed after SIGTERM; want it passed or handed to the post step\n%s\nstderr:\n%s", out, p.Stderr())
	}
	if strings.Contains(out, "after destroying the host:") || !strings.Contains(out, "skipped on the destroyed host: remove probe binary") {
		t.Errorf("want the host-side cleanups skipped on the destroyed host, not tried\n%s", out)
	}
	state := providertest.ReadState(t, filepath.Join(dir, "state"))
	providertest.RunPostCleanly(t, bin, asFake(srv), env, state, "main:\n"+out)
}

// TestBinaryCandidatesAcrossRegionsPostAfterSIGKILL: the candidates input
// end to end. us-east-1 has no capacity in any zone, so the launch lands
// in eu-west-1; main is killed right after it, and the post step, from
// STATE_* alone, finds and deletes it in eu-west-1. The run's name was
// saved before its first create call (the security group's, ahead of any
// RunInstances) and is the instance's Name tag and its ClientToken's
// prefix.
func TestBinaryCandidatesAcrossRegionsPostAfterSIGKILL(t *testing.T) {
	srv := binaryFake(t, true)
	for _, z := range []string{"us-east-1a", "us-east-1b", "us-east-1c"} {
		srv.NoCapacity(z, "", "")
	}
	bin := providertest.Binary(t)
	dir := t.TempDir()
	stateFile := filepath.Join(dir, "state")
	env := actionEnv(t, srv, dir, "INPUT_CANDIDATES=[{region: us-east-1}, {region: eu-west-1}]")
	// The state as it was when EC2 got the run's first create call (the
	// security group's, before any launch): the name must be in it.
	type atCreate struct{ op, state string }
	var first atomic.Pointer[atCreate]
	srv.Inject(fakecloud.Fault{When: func(c fakecloud.Call) bool {
		if !asFake(srv).Mutating(c) || first.Load() != nil {
			return false
		}
		b, _ := os.ReadFile(stateFile) // none yet reads as empty
		first.Store(&atCreate{op: c.Op, state: string(b)})
		return false
	}})
	p, killed := providertest.StartKilledAtLaunch(t, asFake(srv), bin, env)
	if !killed {
		t.Fatalf("main ended before an instance was launched\n%s\nstderr:\n%s", p.Output(), p.Stderr())
	}
	var live []fake.Instance
	for _, in := range srv.Instances() {
		if in.State != "terminated" {
			live = append(live, in)
		}
	}
	if len(live) != 1 || live[0].Region != "eu-west-1" {
		t.Fatalf("live instances = %+v, want one in eu-west-1 (the second candidate)", live)
	}
	state := providertest.ReadState(t, stateFile)
	name := state["name"]
	if name == "" {
		t.Fatalf("no STATE_name saved: %v", state)
	}
	if at := first.Load(); at == nil || at.op != "CreateSecurityGroup" {
		t.Errorf("the run's first create call = %+v, want CreateSecurityGroup", at)
	} else if !strings.Contains(at.state, name) {
		t.Errorf("STATE_name %q was not saved before the run's first create call, %s (state then: %q)", name, at.op, at.state)
	}
	if got := live[0].Tags["Name"]; got != name {
		t.Errorf("instance Name tag %q, want STATE_name %q", got, name)
	}
	if !strings.HasPrefix(live[0].ClientToken, name+"-") {
		t.Errorf("ClientToken %q does not start with STATE_name %q", live[0].ClientToken, name)
	}

	out := providertest.RunPostCleanly(t, bin, asFake(srv), env, state, "")
	if !strings.Contains(string(out), "deleted instance "+live[0].ID) {
		t.Errorf("post did not name the eu-west-1 instance %s:\n%s", live[0].ID, out)
	}
}

// TestBinarySpotFailover: spot has no capacity anywhere, spot-failover is
// on: the run launches on-demand and passes, and the summary's
// "Candidates tried" has a row per spot zone tried and the on-demand one,
// each with its zone and type.
func TestBinarySpotFailover(t *testing.T) {
	srv := binaryFake(t, true)
	srv.NoCapacity("", "", "spot")
	bin := providertest.Binary(t)
	args := append(cliArgs(t, srv, providertest.SuiteFile(t, "true")), "--market", "spot", "--spot-failover")
	p := providertest.Start(t, bin, baseEnv(t), args)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit %d\n%s\nstderr:\n%s", code, p.Output(), p.Stderr())
	}
	var live []fake.Instance
	for _, in := range srv.Instances() {
		if !in.Spot {
			live = append(live, in)
		}
	}
	if len(live) != 1 {
		t.Errorf("on-demand instances = %+v, want the failover's one", live)
	}
	if left := leftInFake(srv); len(left) > 0 {
		t.Errorf("left: %v", left)
	}
	out := args[slices.Index(args, "--out")+1]
	sum, err := os.ReadFile(filepath.Join(out, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, l := range strings.Split(string(sum), "\n") {
		if regexp.MustCompile(`^\| \d+ \| us-east-1 \|`).MatchString(l) {
			rows = append(rows, l)
		}
	}
	want := []string{
		`| 1 | us-east-1 | us-east-1a | c8i.large | spot | ❌ capacity`,
		`| 2 | us-east-1 | us-east-1b | c8i.large | spot | ❌ capacity`,
		`| 3 | us-east-1 | us-east-1c | c8i.large | spot | ❌ capacity`,
		`| 4 | us-east-1 | us-east-1a | c8i.large | on-demand | ✅ created`,
	}
	if len(rows) != len(want) {
		t.Fatalf("Candidates tried rows:\n%s\nwant %d rows\n%s", strings.Join(rows, "\n"), len(want), sum)
	}
	// The zones moved past inside the spot Create, then the spot
	// candidate's partial attempt deleted before on-demand was tried.
	after := []string{"— nothing launched there is left; next zone tried |", "— nothing launched there is left; next zone tried |", "— partial attempt deleted |", ""}
	for i := range want {
		if !strings.HasPrefix(rows[i], want[i]) {
			t.Errorf("row %d = %s, want it to start with %s", i+1, rows[i], want[i])
		}
		if !strings.Contains(rows[i], after[i]) {
			t.Errorf("row %d = %s, want it to say %q", i+1, rows[i], after[i])
		}
	}
}

// TestBinarySIGTERMActions: in Actions the runner cancels with SIGTERM and
// kills the step (SIGKILL) a few seconds later; the run tears down within
// its 7 s cancel budget. SIGTERM during create and while waiting for
// running, with EC2's describe-after-create lag, during ready (the host
// runs but never gets cloud-init's ready marker, so main is signalled
// while it waits for it, with the instance, its volume and its group all
// created) and during the suite: main exits by itself within the
// runner's grace (providertest.RunnerGrace; else it is killed there, as
// the runner would) and, the fake being fast, main alone has deleted
// everything before any post step runs. Then the post step, run with only
// STATE_* from the state file, finds nothing left.
//
// With termination held (the instance stays shutting-down longer than
// the budget) main cannot confirm its deletes: it still exits by itself
// within the grace, handing them to the post step, which finishes them.
func TestBinarySIGTERMActions(t *testing.T) {
	const lag = 2
	phases := []struct {
		name string
		// notReady keeps the hosts from getting the ready marker.
		notReady bool
		// suite is the suite's one step ("true" when empty).
		suite string
		// line, when set, is the output line to signal on; arm may also
		// signal from the fake, at an API call.
		line string
		arm  func(srv *fake.Server, signal func())
		// held keeps terminated instances shutting down past the cancel
		// budget, until the post step.
		held bool
	}{
		{name: "during create", arm: func(srv *fake.Server, signal func()) {
			cutOffAtLaunch(srv, lag, signal)
		}},
		{name: "waiting for running", arm: func(srv *fake.Server, signal func()) {
			srv.HoldBoots()
			srv.Inject(fakecloud.Fault{Op: "DescribeInstances", When: func(c fakecloud.Call) bool {
				if c.Params["InstanceId.1"] != "" {
					signal()
				}
				return false
			}})
		}},
		{name: "during ready", notReady: true, line: "==> ready"},
		{name: "during the suite", suite: "echo suite-started; sleep 600", line: "suite-started"},
		{name: "during the suite, termination held", suite: "echo suite-started; sleep 600", line: "suite-started", held: true},
	}
	bin := providertest.Binary(t)
	for _, ph := range phases {
		t.Run(ph.name, func(t *testing.T) {
			srv := binaryFake(t, !ph.notReady)
			srv.SetConsistencyLag(lag)
			if ph.held {
				srv.SetTerminationDelay(1 << 30)
			}
			dir := t.TempDir()
			env := actionEnv(t, srv, dir, "INPUT_SUITE="+providertest.SuiteFile(t, cmp.Or(ph.suite, "true")))
			var target atomic.Pointer[providertest.Proc]
			signal := func() {
				if pr := target.Load(); pr != nil {
					pr.Terminate()
				}
			}
			if ph.arm != nil {
				ph.arm(srv, signal)
			}
			var watch []string
			if ph.line != "" {
				watch = append(watch, ph.line)
			}
			p := providertest.Start(t, bin, env, nil, watch...)
			target.Store(p)
			if ph.line != "" {
				p.WaitFor(t, ph.line)
				if i, g, v := srv.Live(); i != 1 || g != 1 || v != 1 {
					t.Errorf("at %q the fake holds %d instances, %d groups, %d volumes; want the one host's 1, 1, 1", ph.line, i, g, v)
				}
				signal()
			}
			code, killed := p.WaitGrace(t)
			if !p.Terminated() {
				t.Fatalf("main ended (%d) before the signal\n%s", code, p.Output())
			}
			if killed {
				t.Errorf("main still ran %s after SIGTERM: the runner would have killed it; its teardown must fit its cancel budget\n%s\nstderr:\n%s",
					providertest.RunnerGrace, p.Output(), p.Stderr())
			} else if code == 0 {
				t.Errorf("main exited 0 after SIGTERM\n%s", p.Output())
			}
			// Before any post step: what main alone left.
			left := leftInFake(srv)
			if !ph.held && len(left) > 0 {
				t.Errorf("main left %v after SIGTERM %s: with a fast fake it deletes everything itself\n%s\nstderr:\n%s", left, ph.name, p.Output(), p.Stderr())
			}
			if ph.held {
				// The instance was terminated but is still shutting down:
				// main said it handed the rest to the post step.
				if insts := srv.Instances(); len(insts) != 1 || insts[0].State != "shutting-down" {
					t.Errorf("instances after main = %+v, want the one host shutting down", insts)
				}
				if !strings.Contains(p.Output(), "the post step sweeps again") {
					t.Errorf("main did not say it left its unconfirmed deletes to the post step\n%s", p.Output())
				}
				srv.SetTerminationDelay(0)
			}
			state := providertest.ReadState(t, filepath.Join(dir, "state"))
			if state["identity"] == "" {
				t.Fatalf("main saved no identity: %v\n%s", state, p.Output())
			}
			out := providertest.RunPostCleanly(t, bin, asFake(srv), env, state, "after SIGTERM "+ph.name+"; main:\n"+p.Output()+"\nstderr:\n"+p.Stderr())
			if !strings.Contains(string(out), "leak check") {
				t.Errorf("post did not run the leak check:\n%s", out)
			}
		})
	}
}

// TestBinaryUnauthorizedAtLaunch: a refusal for permissions can still come
// at provision: the policy changed after the preflight's DryRun passed.
// (IAM checks a dry run against the same action and conditions, so a
// policy that refused the launch all along would be refused at preflight.)
// Here the policy changes while the run creates its security group. The
// run stops there — no other zone or candidate is tried, since more of
// the same would be refused — the row reads Preflight ✅, Live cycle ❌
// with EC2's own message in Notes, and nothing is left behind.
func TestBinaryUnauthorizedAtLaunch(t *testing.T) {
	srv := binaryFake(t, true)
	var changed atomic.Bool
	srv.DenyWhen("RunInstances", func(map[string]string) bool { return changed.Load() })
	srv.Inject(fakecloud.Fault{Op: "CreateSecurityGroup", When: func(fakecloud.Call) bool {
		changed.Store(true) // the policy changes now; this call still goes through
		return false
	}})
	bin := providertest.Binary(t)
	args := append(cliArgs(t, srv, providertest.SuiteFile(t, "true")), "--candidates", "[{region: us-east-1}, {region: eu-west-1}]")
	p := providertest.Start(t, bin, baseEnv(t), args)
	code := p.Wait(t)
	out := p.Output() + p.Stderr()
	if code != 1 {
		t.Errorf("exit %d, want 1 (the live cycle failed)\n%s", code, out)
	}
	if n := count(srv.Ops(), "RunInstances"); n != 1 {
		t.Errorf("RunInstances calls = %d, want 1: an auth refusal stops the candidate loop\n%s", n, out)
	}
	if left := leftInFake(srv); len(left) > 0 {
		t.Errorf("left in the fake: %v", left)
	}
	sum, err := os.ReadFile(filepath.Join(args[slices.Index(args, "--out")+1], "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	display := awsCloud().RowDisplay(providertest.LaneArg(args))
	row := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(display) + ` \|([^|]*)\|([^|]*)\|.*\|([^|]*)\|$`).FindSubmatch(sum)
	if row == nil {
		t.Fatalf("summary has no %s row:\n%s", display, sum)
	}
	if strings.TrimSpace(string(row[1])) != "✅" || strings.TrimSpace(string(row[2])) != "❌" {
		t.Errorf("row %s: want Preflight ✅, Live cycle ❌", row[0])
	}
	if notes := string(row[3]); !strings.Contains(notes, "UnauthorizedOperation: You are not authorized to perform this operation.") ||
		!strings.Contains(notes, "ec2:RunInstances") {
		t.Errorf("Notes %q lack EC2's message", notes)
	}
}

// TestBinaryRoleSessionOutlived: with aws-role-to-assume the credentials
// are the role's sessions, minted from the job's OIDC token. A leg that
// outlives one (here sessions last 3 s, and the suite alone takes 4 s)
// gets new ones from the SDK's credentials cache and passes; and a post
// step that runs after main's session expired mints its own and tears
// down. (With plain AWS_* credentials there is nothing to mint them from:
// see the README on role-duration-seconds.)
func TestBinaryRoleSessionOutlived(t *testing.T) {
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer runtime-token" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"value": "gh-oidc-token"}) //nolint:errcheck
	}))
	t.Cleanup(gh.Close)
	bin := providertest.Binary(t)
	roleEnv := func(srv *fake.Server, dir string, extra ...string) []string {
		var env []string
		for _, kv := range actionEnv(t, srv, dir, extra...) {
			if !strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=") && !strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") {
				env = append(env, kv)
			}
		}
		return append(env, "INPUT_AWS-ROLE-TO-ASSUME="+role,
			"ACTIONS_ID_TOKEN_REQUEST_URL="+gh.URL+"/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=runtime-token")
	}
	assumed := func(srv *fake.Server) int { return count(srv.Ops(), "sts:AssumeRoleWithWebIdentity") }

	t.Run("main outlives its session", func(t *testing.T) {
		srv := binaryFakeConfig(t, fake.Config{WebIdentityToken: "gh-oidc-token", RoleARN: role, SessionTTL: 3 * time.Second}, true, nil)
		dir := t.TempDir()
		env := roleEnv(srv, dir, "INPUT_SUITE="+providertest.SuiteFile(t, "sleep 4"))
		p := providertest.Start(t, bin, env, nil)
		if code := p.Wait(t); code != 0 {
			t.Fatalf("main: exit %d\n%s\nstderr:\n%s", code, p.Output(), p.Stderr())
		}
		if n := assumed(srv); n < 2 {
			t.Errorf("assume-role calls = %d, want more than one: the run outlived its first session\n%s", n, p.Output())
		}
		if left := leftInFake(srv); len(left) > 0 {
			t.Errorf("left in the fake: %v", left)
		}
		providertest.RunPostCleanly(t, bin, asFake(srv), env, providertest.ReadState(t, filepath.Join(dir, "state")), "main:\n"+p.Output())
	})

	t.Run("post after main's session expired", func(t *testing.T) {
		srv := binaryFakeConfig(t, fake.Config{WebIdentityToken: "gh-oidc-token", RoleARN: role}, true, nil)
		dir := t.TempDir()
		env := roleEnv(srv, dir)
		p, killed := providertest.StartKilledAtLaunch(t, asFake(srv), bin, env)
		if !killed {
			t.Fatalf("main ended before RunInstances answered\n%s\nstderr:\n%s", p.Output(), p.Stderr())
		}
		if i, _, _ := srv.Live(); i != 1 {
			t.Fatalf("after SIGKILL the fake holds %d instances, want the 1 main left behind", i)
		}
		srv.ExpireSessions()
		before := assumed(srv)
		out := providertest.RunPostCleanly(t, bin, asFake(srv), env, providertest.ReadState(t, filepath.Join(dir, "state")), "")
		if assumed(srv) <= before {
			t.Errorf("the post step minted no session of its own:\n%s", out)
		}
		if !strings.Contains(out, "deleted instance") || !strings.Contains(out, "leak check") {
			t.Errorf("post output:\n%s", out)
		}
	})
}
