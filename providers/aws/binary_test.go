package aws_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/probe"
	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// The whole-binary tests run mvm-verify as a user or GitHub's runner would,
// against the fake EC2 served from this test process. The binary is built
// once, on first use, so the API-level tests above do not wait for it.
var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

func TestMain(m *testing.M) {
	// The SDK reads the process environment and ~/.aws as well as what the
	// tests inject: keep this machine's AWS settings out, and the instance
	// metadata service (169.254.169.254, not loopback) off.
	awsDir, err := os.MkdirTemp("", "mvm-verify-aws-config-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			os.Unsetenv(k)
		}
	}
	for _, kv := range isolatedAWS(awsDir) {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	code := m.Run()
	os.RemoveAll(awsDir)
	if binDir != "" {
		os.RemoveAll(binDir)
	}
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

func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "mvm-verify-aws-test-"); binErr != nil {
			return
		}
		bin := filepath.Join(binDir, "mvm-verify")
		// Built as the Dockerfile builds it: the binary the image ships.
		build := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/tinylabscom/mvm-verify")
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

var markerPattern = regexp.MustCompile(`/var/lib/mvm-verify/ready-[A-Za-z0-9_.-]+`)

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
// (its Booter is set here).
func binaryFakeConfig(t *testing.T, cfg fake.Config, ready bool, afterBoot func(fakecloud.BootSpec, fakecloud.Machine) error) *fake.Server {
	t.Helper()
	requireTestHosts(t)
	booter := fakecloud.TestHostBooter{Port: 22, AfterBoot: func(_ context.Context, spec fakecloud.BootSpec, m fakecloud.Machine) error {
		if afterBoot != nil {
			if err := afterBoot(spec, m); err != nil {
				return err
			}
		}
		marker := markerPattern.Find(spec.UserData)
		if !ready || marker == nil {
			return nil
		}
		t.Cleanup(func() { os.Remove(string(marker)) })
		if err := os.MkdirAll(filepath.Dir(string(marker)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(string(marker), nil, 0o644)
	}}
	cfg.Booter = booter
	srv := fake.New(cfg)
	t.Cleanup(srv.Close)
	cleanProbeDirs(t, srv)
	return srv
}

// presentedHostKey is the host key sshd at m presents, read from a
// handshake that stops there.
func presentedHostKey(m fakecloud.Machine) (ssh.PublicKey, error) {
	var key ssh.PublicKey
	errSeen := errors.New("host key seen")
	_, err := ssh.Dial("tcp", net.JoinHostPort(m.Addr(), strconv.Itoa(m.Port())), &ssh.ClientConfig{
		User: "nobody", Timeout: 30 * time.Second,
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error { key = k; return errSeen },
	})
	if key == nil {
		return nil, fmt.Errorf("no host key from %s:%d: %v", m.Addr(), m.Port(), err)
	}
	return key, nil
}

func suiteFile(t *testing.T, run string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "suite.yml")
	suite := "user: root\nsteps:\n  - name: hello\n    run: " + run + "\n    column: Live cycle\n"
	if err := os.WriteFile(f, []byte(suite), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// baseEnv is a clean environment with the credentials
// aws-actions/configure-aws-credentials would export.
func baseEnv(t *testing.T, extra ...string) []string {
	return append(append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + t.TempDir(),
		"AWS_ACCESS_KEY_ID=AKIDFAKE", "AWS_SECRET_ACCESS_KEY=fake-secret",
		// production polls are seconds apart; the binary takes the test hook
		"MVM_VERIFY_POLL_INTERVAL=100ms"}, isolatedAWS(t.TempDir())...), extra...)
}

// proc is a running binary whose output the test watches.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	seen   map[string]chan struct{}
	done   chan struct{}
	code   int
	stderr bytes.Buffer
}

func start(t *testing.T, bin string, env []string, args []string, watch ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), seen: map[string]chan struct{}{}, done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stderr = &p.stderr
	for _, w := range watch {
		p.seen[w] = make(chan struct{})
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			for w, ch := range p.seen {
				if strings.Contains(line, w) {
					close(ch)
					delete(p.seen, w)
				}
			}
			p.mu.Unlock()
		}
		io.Copy(io.Discard, stdout) //nolint:errcheck
		err := p.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill() //nolint:errcheck
			<-p.done
		}
	})
	return p
}

func (p *proc) waitFor(t *testing.T, line string) {
	t.Helper()
	p.mu.Lock()
	ch, ok := p.seen[line]
	p.mu.Unlock()
	if !ok {
		return // already seen
	}
	select {
	case <-ch:
	case <-p.done:
		t.Fatalf("exited (%d) before printing %q\n%s\nstderr:\n%s", p.code, line, p.output(), p.stderr.String())
	case <-time.After(3 * time.Minute):
		t.Fatalf("no %q after 3 minutes\n%s", line, p.output())
	}
}

func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(4 * time.Minute):
		t.Fatalf("still running after 4 minutes\n%s", p.output())
	}
	return p.code
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func cliArgs(t *testing.T, srv *fake.Server, suite string) []string {
	return []string{"run", "--provider", "aws", "--aws-endpoint", srv.URL, "--region", "us-east-1",
		"--suite", suite, "--out", filepath.Join(t.TempDir(), "out"), "--ssh-source-cidr", "127.0.0.1/32", "--timeout-minutes", "10"}
}

// TestBinaryRunAWS: `mvm-verify run --provider aws` against the fake — real
// SSH into the booted host, the suite runs, teardown, a clean leak check
// and a ✅ row.
func TestBinaryRunAWS(t *testing.T) {
	ci, err := exec.LookPath("cloud-init")
	if err != nil {
		t.Fatal("cloud-init is not installed: install Debian's cloud-init package, which validates the user data's schema")
	}
	var presented atomic.Pointer[ssh.PublicKey]
	srv := binaryFakeWith(t, true, func(_ fakecloud.BootSpec, m fakecloud.Machine) error {
		k, err := presentedHostKey(m)
		if err == nil {
			presented.Store(&k)
		}
		return err
	})
	bin := binary(t)
	args := cliArgs(t, srv, suiteFile(t, `test "$(id -un)" = root && echo hello from the fake ec2`))
	// Secrets the run holds that must not reach the host.
	const sessionToken, ghToken = "session-token-not-for-hosts", "ghs_tokenNotForHosts0123456789"
	began := time.Now().Unix()
	p := start(t, bin, baseEnv(t, "AWS_SESSION_TOKEN="+sessionToken, "GITHUB_TOKEN="+ghToken), append(args, "--ttl", "95m"))
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s\nstderr:\n%s", code, p.output(), p.stderr.String())
	}
	ended := time.Now().Unix()
	out := p.output()
	for _, want := range []string{"==> preflight", "==> provision", "==> ready", "==> suite", "==> collect", "==> teardown", "hello from the fake ec2"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	sum, err := os.ReadFile(filepath.Join(args[len(args)-5], "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	// The collect phase kept the instance's console, read through
	// GetConsoleOutput, beside the host's own logs.
	console, err := os.ReadFile(filepath.Join(args[len(args)-5], "logs", "console.log"))
	if err != nil || !strings.Contains(string(console), "fake-ec2: booted; sshd listening on") {
		t.Errorf("console log: %v\n%s", err, console)
	}
	if n := count(srv.Ops(), "GetConsoleOutput"); n != 1 {
		t.Errorf("GetConsoleOutput calls = %d, want 1", n)
	}
	// | Provider | Preflight | Live cycle | … : Preflight passes; the live
	// cycle passes where this machine (the fake's "instance") has usable
	// KVM for root, the suite's user, and reads n/a on the no-KVM lane.
	row := regexp.MustCompile(`(?m)^\| AWS \|([^|]*)\|([^|]*)\|`).FindSubmatch(sum)
	if row == nil {
		t.Fatalf("summary has no AWS row:\n%s", sum)
	}
	wantLive := "n/a"
	noSeccomp := func(context.Context) (bool, string, error) { return false, "not checked here", nil }
	if probe.Collect(context.Background(), probe.Options{SeccompChild: noSeccomp}).Lane == probe.LaneKVM {
		wantLive = "✅"
	}
	if !strings.Contains(string(row[1]), "✅") || !strings.Contains(string(row[2]), wantLive) {
		t.Errorf("row: Preflight %q, Live cycle %q; want ✅ and %s\n%s", row[1], row[2], wantLive, sum)
	}
	if left := leftInFake(srv); len(left) > 0 {
		t.Errorf("left in the fake: %v", left)
	}
	if n := count(srv.Ops(), "RunInstances"); n != 1 {
		t.Errorf("RunInstances calls = %d", n)
	}

	// The user data the fake received passes cloud-init's schema…
	ud := srv.Instances()[0].UserData
	f := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(f, ud, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(ci, "schema", "--config-file", f).CombinedOutput(); err != nil || !strings.Contains(string(out), "Valid") {
		t.Errorf("cloud-init schema: %v\n%s", err, out)
	}
	// …and its only private key is the run's host key (DESIGN §5: injected
	// through ssh_keys), the one the host presented; so the client's private
	// key is not there, nor are the run's other secrets.
	blocks := regexp.MustCompile(`(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----`).FindAll(ud, -1)
	if len(blocks) != 1 {
		t.Fatalf("user data holds %d private key blocks, want exactly the host key", len(blocks))
	}
	signer, err := ssh.ParsePrivateKey(unindent(blocks[0]))
	if err != nil {
		t.Fatalf("the private key in the user data does not parse: %v", err)
	}
	if k := presented.Load(); k == nil || !bytes.Equal(signer.PublicKey().Marshal(), (*k).Marshal()) {
		t.Error("the private key in the user data is not the host key the host presented")
	}
	for name, secret := range map[string]string{"AWS secret key": "fake-secret", "AWS session token": sessionToken, "GitHub token": ghToken} {
		if bytes.Contains(ud, []byte(secret)) {
			t.Errorf("user data contains the %s", name)
		}
	}
	checkExpiry(t, srv.Instances()[0].Tags, ud, 95*time.Minute, began, ended)
}

// checkExpiry checks the two ends of a host's TTL against each other: the
// expires-at tag the janitor reaps by, and the `shutdown -h +N` the host
// runs on its own. created-at is when the run began (unix seconds, within
// began..ended), expires-at is ttl later, and the shutdown's N minutes
// agree with that within a minute (the host counts from its boot, a little
// after created-at, and shutdown takes whole minutes).
func checkExpiry(t *testing.T, tags map[string]string, userData []byte, ttl time.Duration, began, ended int64) {
	t.Helper()
	created, err1 := strconv.ParseInt(tags["created-at"], 10, 64)
	expires, err2 := strconv.ParseInt(tags["expires-at"], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("instance tags created-at %q, expires-at %q: want unix seconds (tags %v)", tags["created-at"], tags["expires-at"], tags)
	}
	if created < began-1 || created > ended {
		t.Errorf("created-at %d is outside the run (%d..%d)", created, began, ended)
	}
	if got := time.Duration(expires-created) * time.Second; got != ttl {
		t.Errorf("expires-at - created-at = %s, want the ttl %s", got, ttl)
	}
	m := regexp.MustCompile(`shutdown -h \+(\d+)`).FindSubmatch(userData)
	if m == nil {
		t.Fatalf("the user data schedules no shutdown -h +N:\n%s", userData)
	}
	minutes, _ := strconv.ParseInt(string(m[1]), 10, 64)
	if d := created + minutes*60 - expires; d < -60 || d > 60 {
		t.Errorf("the host shuts down %d minutes after created-at but expires-at is %d s after it: they disagree by %d s",
			minutes, expires-created, d)
	}
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
	bin := binary(t)
	dir := t.TempDir()
	main := start(t, bin, actionEnv(t, srv, dir, "INPUT_DISK-GB=80"), nil)
	if code := main.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s\nstderr:\n%s", code, main.output(), main.stderr.String())
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
	bin := binary(t)
	p := start(t, bin, baseEnv(t), cliArgs(t, srv, suiteFile(t, "echo on the one host")))
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s\nstderr:\n%s", code, p.output(), p.stderr.String())
	}
	if n := count(srv.Ops(), "RunInstances"); n != 9 {
		t.Errorf("RunInstances calls = %d, want 9 (8 answers lost)", n)
	}
	insts := srv.Instances()
	if len(insts) != 1 {
		t.Fatalf("instances = %d, want the one launched before its answers were lost", len(insts))
	}
	if !regexp.MustCompile(`(?m)^\s+host \S+ ` + insts[0].ID + ` `).MatchString(p.output()) {
		t.Errorf("the run's host is not instance %s\n%s", insts[0].ID, p.output())
	}
	if left := leftInFake(srv); len(left) > 0 {
		t.Errorf("left in the fake: %v", left)
	}
}

// unindent strips the YAML block indentation from a PEM block taken out of
// the user data.
func unindent(b []byte) []byte {
	lines := strings.Split(string(b), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

// TestBinarySIGTERM: SIGTERM at each phase leaves nothing in the fake.
func TestBinarySIGTERM(t *testing.T) {
	phases := []struct {
		name  string
		ready bool
		run   string
		// arm arranges for the signal: either through the fake (at an API
		// call) or returns a line of output to signal on.
		arm func(srv *fake.Server, signal func()) string
	}{
		{name: "during create", ready: true, run: "true", arm: func(srv *fake.Server, signal func()) string {
			srv.Inject(fakecloud.Fault{Op: "RunInstances", When: func(fakecloud.Call) bool { signal(); return false }})
			return ""
		}},
		{name: "waiting for running", ready: true, run: "true", arm: func(srv *fake.Server, signal func()) string {
			srv.HoldBoots()
			srv.Inject(fakecloud.Fault{Op: "DescribeInstances", When: func(c fakecloud.Call) bool {
				if c.Params["InstanceId.1"] != "" {
					signal()
				}
				return false
			}})
			return ""
		}},
		{name: "during ready", ready: false, run: "true", arm: func(*fake.Server, func()) string { return "==> ready" }},
		{name: "during the suite", ready: true, run: "echo suite-started; sleep 600", arm: func(*fake.Server, func()) string { return "suite-started" }},
	}
	bin := binary(t)
	for _, ph := range phases {
		t.Run(ph.name, func(t *testing.T) {
			srv := binaryFake(t, ph.ready)
			var target atomic.Pointer[os.Process]
			var sent atomic.Bool
			signal := func() {
				if pr := target.Load(); pr != nil && sent.CompareAndSwap(false, true) {
					pr.Signal(syscall.SIGTERM) //nolint:errcheck
				}
			}
			line := ph.arm(srv, signal)
			var watch []string
			if line != "" {
				watch = append(watch, line)
			}
			p := start(t, bin, baseEnv(t), cliArgs(t, srv, suiteFile(t, ph.run)), watch...)
			target.Store(p.cmd.Process)
			if line != "" {
				p.waitFor(t, line)
				signal()
			}
			code := p.wait(t)
			if !sent.Load() {
				t.Fatalf("the run ended (%d) before the signal\n%s", code, p.output())
			}
			if code == 0 {
				t.Errorf("exit 0 after SIGTERM")
			}
			if left := leftInFake(srv); len(left) > 0 {
				t.Errorf("left in the fake after SIGTERM %s: %v\n%s\nstderr:\n%s",
					ph.name, left, p.output(), p.stderr.String())
			}
		})
	}
}

// TestBinaryPostAfterSIGKILL: main is killed right after RunInstances; the
// post step, run fresh with only STATE_* and the fake's API, finds the
// instance by tag and deletes it — also when new resources are missing
// from EC2's first listings (describe-after-create lag).
// startKilledAtLaunch starts main and SIGKILLs it at its first look at
// the instance it launched, right after RunInstances answered, as a runner
// killing the job would; it says whether the kill came before main ended.
func startKilledAtLaunch(t *testing.T, srv *fake.Server, bin string, env []string) (*proc, bool) {
	t.Helper()
	var target atomic.Pointer[os.Process]
	var killed atomic.Bool
	srv.Inject(fakecloud.Fault{Op: "DescribeInstances", When: func(c fakecloud.Call) bool {
		if pr := target.Load(); pr != nil && c.Params["InstanceId.1"] != "" && killed.CompareAndSwap(false, true) {
			pr.Kill() //nolint:errcheck
		}
		return false
	}})
	p := start(t, bin, env, nil)
	target.Store(p.cmd.Process)
	p.wait(t)
	return p, killed.Load()
}

func TestBinaryPostAfterSIGKILL(t *testing.T) {
	for _, lag := range []int{0, 2} {
		t.Run(fmt.Sprintf("lag %d", lag), func(t *testing.T) { testPostAfterSIGKILL(t, lag) })
	}
}

func testPostAfterSIGKILL(t *testing.T, lag int) {
	srv := binaryFake(t, true)
	srv.SetConsistencyLag(lag)
	bin := binary(t)
	dir := t.TempDir()
	stateFile := filepath.Join(dir, "state")
	env := actionEnv(t, srv, dir)
	p, killed := startKilledAtLaunch(t, srv, bin, env)
	if !killed {
		t.Fatalf("main ended before RunInstances answered\n%s\nstderr:\n%s", p.output(), p.stderr.String())
	}
	if i, _, _ := srv.Live(); i != 1 {
		t.Fatalf("after SIGKILL the fake holds %d instances, want the 1 main left behind", i)
	}

	state := readState(t, stateFile)
	if state["identity"] == "" {
		t.Fatalf("main saved no identity before creating: %v", state)
	}
	// The saved identity names this leg apart from any other with the same
	// key, and the instance carries the same leg id.
	var saved providers.Identity
	if err := json.Unmarshal([]byte(state["identity"]), &saved); err != nil || saved.Leg == "" {
		t.Fatalf("saved identity %s has no leg id (%v)", state["identity"], err)
	}
	for _, in := range srv.Instances() {
		if in.Tags[providers.TagLeg] != saved.Leg {
			t.Errorf("instance %s has leg tag %q, the state says %q", in.ID, in.Tags[providers.TagLeg], saved.Leg)
		}
	}
	out := runPostCleanly(t, bin, srv, env, state, "")
	if !strings.Contains(string(out), "leak check") || !strings.Contains(string(out), "deleted instance") {
		t.Errorf("post output:\n%s", out)
	}
}

// actionEnv is the runner's environment for the action's main and post
// steps against srv, with its files in dir: GITHUB_STATE is dir/state and
// GITHUB_STEP_SUMMARY dir/summary.
func actionEnv(t *testing.T, srv *fake.Server, dir string, extra ...string) []string {
	t.Helper()
	for _, f := range []string{"state", "summary", "output"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return baseEnv(t, append([]string{
		"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=o/r", "GITHUB_RUN_ID=777", "GITHUB_RUN_ATTEMPT=1", "GITHUB_JOB=verify",
		"GITHUB_SHA=ffffffffffffffffffffffffffffffffffffffff", "GITHUB_EVENT_NAME=push",
		"GITHUB_STATE=" + filepath.Join(dir, "state"), "GITHUB_OUTPUT=" + filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY=" + filepath.Join(dir, "summary"),
		"INPUT_PROVIDER=aws", "INPUT_AWS-ENDPOINT=" + srv.URL, "INPUT_REGION=us-east-1",
		"INPUT_SUITE=" + suiteFile(t, "true"), "INPUT_OUT=" + filepath.Join(dir, "out"),
		"INPUT_SSH-SOURCE-CIDR=127.0.0.1/32", "INPUT_TIMEOUT-MINUTES=10", "INPUT_COMMENT=false",
	}, extra...)...)
}

// readState parses the GITHUB_STATE file the way the runner does.
func readState(t *testing.T, file string) map[string]string {
	t.Helper()
	state := map[string]string{}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		if k, delim, ok := strings.Cut(lines[i], "<<"); ok {
			var val []string
			for i++; i < len(lines) && lines[i] != delim; i++ {
				val = append(val, lines[i])
			}
			state[k] = strings.Join(val, "\n")
		} else if k, v, ok := strings.Cut(lines[i], "="); ok {
			state[k] = v
		}
	}
	return state
}

// postEnv is env plus the main step's state as the runner passes it to post.
// runPostCleanly runs the post step, as the runner would, with main's
// saved state, and checks that it succeeded and left nothing tagged in the
// fake; detail goes into the failure messages. It returns post's output.
func runPostCleanly(t *testing.T, bin string, srv *fake.Server, env []string, state map[string]string, detail string) string {
	t.Helper()
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Env = postEnv(env, state)
	b, err := post.CombinedOutput()
	out := string(b)
	if err != nil {
		t.Fatalf("post: %v\n%s\n%s", err, out, detail)
	}
	if left := leftInFake(srv); len(left) > 0 {
		t.Errorf("after post the fake holds %v\npost:\n%s\n%s", left, out, detail)
	}
	return out
}

func postEnv(env []string, state map[string]string) []string {
	out := append([]string(nil), env...)
	for k, v := range state {
		out = append(out, "STATE_"+k+"="+v)
	}
	return out
}

// TestBinaryLeakFailsTheStep: a delete that answers success but keeps the
// group is caught by the leak check, which fails both main and post,
// naming the group.
func TestBinaryLeakFailsTheStep(t *testing.T) {
	srv := binaryFake(t, true)
	srv.Inject(fakecloud.Fault{Op: "DeleteSecurityGroup", Pretend: true})
	bin := binary(t)
	dir := t.TempDir()
	env := actionEnv(t, srv, dir)
	main := start(t, bin, env, nil)
	code := main.wait(t)
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
	if all := main.output() + main.stderr.String() + summary(); code != 1 || !strings.Contains(all, sg) {
		t.Errorf("main: exit %d, want 1 with an error naming %s\n%s", code, sg, all)
	}
	if err := os.WriteFile(filepath.Join(dir, "summary"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Env = postEnv(env, readState(t, filepath.Join(dir, "state")))
	out, err := post.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("post: %v, want exit 1\n%s", err, out)
	}
	if sum := summary(); !strings.Contains(sum, "LEAKED") || !strings.Contains(sum, "security-group "+sg) {
		t.Errorf("post summary does not name the leaked group %s:\n%s\noutput:\n%s", sg, sum, out)
	}
}

// TestBinaryPreflightRefusals: refused at preflight, exit 2, nothing created.
func TestBinaryPreflightRefusals(t *testing.T) {
	bin := binary(t)
	// A *.metal type (KVM yes) of the other architecture than this
	// binary's, which the cycle would upload to it.
	other, otherArch := "c6g.metal", "an arm64 type"
	if runtime.GOARCH == "arm64" {
		other, otherArch = "c5.metal", "an x86_64 type"
	}
	tests := []struct {
		name  string
		extra []string
		env   []string
		want  string
		// notes, when set, is the whole Notes cell of the row in summary.md;
		// notesHas, a part of it.
		notes, notesHas string
		// setup shapes the fake before the run.
		setup func(*fake.Server)
	}{
		{name: "unknown region", extra: []string{"--region", "xx-nowhere-1"}, want: `region "xx-nowhere-1": not an AWS region`},
		{name: "type without KVM", extra: []string{"--instance-type", "t3.large"}, want: `input instance-type "t3.large": no KVM on this type`},
		// A family with local disks: no KVM either, only *.metal and
		// C8i/M8i/R8i have it; the refusal blames the candidates entry.
		{name: "candidate type without KVM", extra: []string{"--candidates", "[{type: m5d.large}]"},
			want: `input candidates[0].type "m5d.large": no KVM on this type: virtualized without nested virtualization; on AWS only *.metal types and C8i/M8i/R8i`},
		{name: "second candidate without KVM", extra: []string{"--candidates", "[{type: c8i.large}, {region: eu-west-1, type: t3.large}]"},
			want: `input candidates[1].type "t3.large": no KVM on this type`},
		{name: "over budget", extra: []string{"--instance-type", "c5.metal", "--max-cost", "0.50"}, want: `input "max-cost": c5.metal at $4.0800/h for up to 10m0s could cost $0.68`},
		{name: "disk too large", extra: []string{"--disk-gb", "16385"},
			want: `input "disk-gb": got "16385", expected a whole number of GB from 8 to 16384`},
		{name: "bad candidate region", extra: []string{"--candidates", "[{region: Mars}]"},
			want: `input candidates[0].region "Mars": expected an AWS region such as us-east-1`},
		// spot-failover adds an on-demand copy after the spot entry: the
		// bad region is still the second entry the user wrote.
		{name: "bad region after a failover copy", extra: []string{"--spot-failover", "--candidates", "[{market: spot}, {region: Mars}]"},
			want: `input candidates[1].region "Mars": expected an AWS region such as us-east-1`},
		// Nothing to fail over from: refused before anything is called.
		{name: "spot failover without spot", extra: []string{"--spot-failover"},
			want: `input "spot-failover": got "true", expected false when market is on-demand`},
		{name: "candidate zone outside its region", extra: []string{"--candidates", "[{region: eu-west-1, zone: us-east-1a}]"},
			want: `input candidates[0].zone "us-east-1a": expected an availability zone of region eu-west-1`},
		{name: "metal type of another architecture", extra: []string{"--instance-type", other},
			want: `input instance-type "` + other + `": ` + otherArch + `, but the host runs the probe, this mvm-verify, built for ` + runtime.GOARCH},
		// A /8 is 16 million addresses, not the runner's: it takes the opt-in.
		{name: "ssh source a /8", extra: []string{"--ssh-source-cidr", "10.0.0.0/8"},
			want: `input "ssh-source-cidr": got "10.0.0.0/8", expected a range of /24 or narrower (such as the runner's address as a /32), or allow-ssh-from-anywhere: true`},
		// EC2 hosts are reached over IPv4: an IPv6 source would admit no one.
		{name: "ssh source IPv6", extra: []string{"--ssh-source-cidr", "2001:db8::7/128"},
			want: `input ssh-source-cidr "2001:db8::7/128": expected an IPv4 CIDR: EC2 hosts are reached over IPv4`},
		{name: "no credentials", env: append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, isolatedAWS(t.TempDir())...),
			want: "Needs AWS credentials",
			// The row's Notes read as the hand-kept matrix's did.
			notes: "Needs AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (e.g. with aws-actions/configure-aws-credentials) or aws-role-to-assume"},
		// Good credentials whose policy may not launch instances: EC2's
		// DryRun refuses it at preflight, with EC2's own message in Notes.
		{name: "launch not allowed", setup: func(s *fake.Server) { s.Deny("dryrun:RunInstances") },
			want:     "UnauthorizedOperation",
			notesHas: "check that the AWS credentials may launch c8i.large on-demand instances in us-east-1 (ec2:RunInstances, with DryRun): "},
		{name: "security group not allowed", setup: func(s *fake.Server) { s.Deny("dryrun:CreateSecurityGroup") },
			want:     "UnauthorizedOperation",
			notesHas: "is not authorized to perform: ec2:CreateSecurityGroup on resource"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fake.New(fake.Config{Booter: idleBooter})
			defer srv.Close()
			if tt.setup != nil {
				tt.setup(srv)
			}
			args := append(cliArgs(t, srv, suiteFile(t, "true")), tt.extra...)
			env := tt.env
			if env == nil {
				env = baseEnv(t)
			}
			env = append(env, "TMPDIR="+t.TempDir())
			p := start(t, bin, env, args)
			code := p.wait(t)
			if code != 2 {
				t.Errorf("exit %d, want 2 (refused at preflight)", code)
			}
			if all := p.output() + p.stderr.String(); !strings.Contains(all, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, all)
			}
			if c := creating(srv); len(c) > 0 {
				t.Errorf("a refused run called %v", c)
			}
			// Everything the fake holds, tagged or not.
			if left := srv.Tagged(nil); len(left) > 0 {
				t.Errorf("a refused run created %v", left)
			}
			if tt.notes != "" || tt.notesHas != "" {
				sum, err := os.ReadFile(filepath.Join(args[slices.Index(args, "--out")+1], "summary.md"))
				if err != nil {
					t.Fatal(err)
				}
				if want := "| " + tt.notes + " |"; tt.notes != "" && !strings.Contains(string(sum), want) {
					t.Errorf("summary's row lacks the Notes cell %q:\n%s", want, sum)
				}
				row := regexp.MustCompile(`(?m)^\| AWS \|.*$`).Find(sum)
				if tt.notesHas != "" && !strings.Contains(string(row), tt.notesHas) {
					t.Errorf("summary's row lacks %q in Notes:\n%s", tt.notesHas, sum)
				}
			}
		})
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
	p := start(t, binary(t), env, cliArgs(t, srv, suiteFile(t, "true")))
	if code := p.wait(t); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	all := p.output() + p.stderr.String()
	if !strings.Contains(all, "Needs AWS credentials") {
		t.Fatalf("no credentials message:\n%s", all)
	}
	for _, line := range strings.Split(p.stderr.String(), "\n") {
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
	bin := binary(t)
	args := append(cliArgs(t, srv, suiteFile(t, "true")), "--zone", "us-east-1b",
		"--candidates", "[{region: us-east-1}, {region: eu-west-1}]")
	p := start(t, bin, baseEnv(t), args)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d, want 0\n%s\nstderr:\n%s", code, p.output(), p.stderr.String())
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
	for _, want := range []string{"| 1 | us-east-1 | us-east-1b | c8i.large | on-demand | ❌ capacity", "| 2 | eu-west-1 | eu-west-1a | c8i.large | on-demand | ✅ created"} {
		if !strings.Contains(string(sum), want) {
			t.Errorf("Candidates tried lacks %q:\n%s", want, sum)
		}
	}
}

// TestBinarySIGTERMProductionPoll: SIGTERM during the suite with polls
// seconds apart, as in production, so the 7 s cancel budget cannot hold
// the young run's quiet sweeps. The teardown must not fail for it: it
// passes, or hands what it could not confirm to the post step; host-side
// cleanups are skipped on the destroyed host; and after the post step
// nothing is left.
func TestBinarySIGTERMProductionPoll(t *testing.T) {
	srv := binaryFake(t, true)
	bin := binary(t)
	dir := t.TempDir()
	env := actionEnv(t, srv, dir, "INPUT_SUITE="+suiteFile(t, "echo suite-started; sleep 600"), "MVM_VERIFY_POLL_INTERVAL=2s")
	p := start(t, bin, env, nil, "suite-started")
	p.waitFor(t, "suite-started")
	p.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
	code := p.wait(t)
	out := p.output()
	if code == 0 {
		t.Errorf("exit 0 after SIGTERM")
	}
	if !strings.Contains(out, "==> teardown") {
		t.Fatalf("no teardown after SIGTERM\n%s\nstderr:\n%s", out, p.stderr.String())
	}
	if strings.Contains(out, "✗ teardown") || !strings.Contains(out, "✓ teardown") {
		t.Errorf("the teardown failed after SIGTERM; want it passed or handed to the post step\n%s\nstderr:\n%s", out, p.stderr.String())
	}
	if strings.Contains(out, "after destroying the host:") || !strings.Contains(out, "skipped on the destroyed host: remove probe binary") {
		t.Errorf("want the host-side cleanups skipped on the destroyed host, not tried\n%s", out)
	}
	state := readState(t, filepath.Join(dir, "state"))
	runPostCleanly(t, bin, srv, env, state, "main:\n"+out)
}

// TestBinaryCandidatesAcrossRegionsPostAfterSIGKILL: the candidates input
// end to end. us-east-1 has no capacity in any zone, so the launch lands
// in eu-west-1; main is killed right after it, and the post step, from
// STATE_* alone, finds and deletes it in eu-west-1. The run's name was
// saved before RunInstances and is the instance's Name tag and its
// ClientToken's prefix.
func TestBinaryCandidatesAcrossRegionsPostAfterSIGKILL(t *testing.T) {
	srv := binaryFake(t, true)
	for _, z := range []string{"us-east-1a", "us-east-1b", "us-east-1c"} {
		srv.NoCapacity(z, "", "")
	}
	bin := binary(t)
	dir := t.TempDir()
	stateFile := filepath.Join(dir, "state")
	env := actionEnv(t, srv, dir, "INPUT_CANDIDATES=[{region: us-east-1}, {region: eu-west-1}]")
	var stateAtLaunch atomic.Pointer[string]
	srv.Inject(fakecloud.Fault{Op: "RunInstances", When: func(fakecloud.Call) bool {
		if b, err := os.ReadFile(stateFile); err == nil && stateAtLaunch.Load() == nil {
			s := string(b)
			stateAtLaunch.Store(&s)
		}
		return false
	}})
	p, killed := startKilledAtLaunch(t, srv, bin, env)
	if !killed {
		t.Fatalf("main ended before an instance was launched\n%s\nstderr:\n%s", p.output(), p.stderr.String())
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
	state := readState(t, stateFile)
	name := state["name"]
	if name == "" {
		t.Fatalf("no STATE_name saved: %v", state)
	}
	if at := stateAtLaunch.Load(); at == nil || !strings.Contains(*at, name) {
		t.Errorf("STATE_name %q was not saved before the first RunInstances (state then: %v)", name, at)
	}
	if got := live[0].Tags["Name"]; got != name {
		t.Errorf("instance Name tag %q, want STATE_name %q", got, name)
	}
	if !strings.HasPrefix(live[0].ClientToken, name+"-") {
		t.Errorf("ClientToken %q does not start with STATE_name %q", live[0].ClientToken, name)
	}

	out := runPostCleanly(t, bin, srv, env, state, "")
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
	bin := binary(t)
	args := append(cliArgs(t, srv, suiteFile(t, "true")), "--market", "spot", "--spot-failover")
	p := start(t, bin, baseEnv(t), args)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s\nstderr:\n%s", code, p.output(), p.stderr.String())
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
	for i := range want {
		if !strings.HasPrefix(rows[i], want[i]) {
			t.Errorf("row %d = %s, want it to start with %s", i+1, rows[i], want[i])
		}
	}
}

// TestBinarySIGTERMActions: in Actions the runner cancels with SIGTERM and
// allows only a few seconds before SIGKILL, so main may leave its teardown
// to the post step. SIGTERM during create and while waiting for running,
// with EC2's describe-after-create lag, then the post step run with only
// STATE_* from the state file: nothing is left in the fake. During ready
// the host runs but never gets cloud-init's ready marker, so main is
// signalled while it waits for it, with the instance, its volume and its
// group all created.
func TestBinarySIGTERMActions(t *testing.T) {
	const lag = 2
	phases := []struct {
		name string
		// notReady keeps the hosts from getting the ready marker.
		notReady bool
		// line, when set, is the output line to signal on; arm may also
		// signal from the fake, at an API call.
		line string
		arm  func(srv *fake.Server, signal func())
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
		{name: "during ready", notReady: true, line: "==> ready", arm: func(*fake.Server, func()) {}},
	}
	bin := binary(t)
	for _, ph := range phases {
		t.Run(ph.name, func(t *testing.T) {
			srv := binaryFake(t, !ph.notReady)
			srv.SetConsistencyLag(lag)
			dir := t.TempDir()
			env := actionEnv(t, srv, dir)
			var target atomic.Pointer[os.Process]
			var sent atomic.Bool
			signal := func() {
				if pr := target.Load(); pr != nil && sent.CompareAndSwap(false, true) {
					pr.Signal(syscall.SIGTERM) //nolint:errcheck
				}
			}
			ph.arm(srv, signal)
			var watch []string
			if ph.line != "" {
				watch = append(watch, ph.line)
			}
			p := start(t, bin, env, nil, watch...)
			target.Store(p.cmd.Process)
			if ph.line != "" {
				p.waitFor(t, ph.line)
				if i, g, v := srv.Live(); i != 1 || g != 1 || v != 1 {
					t.Errorf("at %q the fake holds %d instances, %d groups, %d volumes; want the one host's 1, 1, 1", ph.line, i, g, v)
				}
				signal()
			}
			code := p.wait(t)
			if !sent.Load() {
				t.Fatalf("main ended (%d) before the signal\n%s", code, p.output())
			}
			if code == 0 {
				t.Errorf("main exited 0 after SIGTERM\n%s", p.output())
			}
			state := readState(t, filepath.Join(dir, "state"))
			if state["identity"] == "" {
				t.Fatalf("main saved no identity: %v\n%s", state, p.output())
			}
			out := runPostCleanly(t, bin, srv, env, state, "after SIGTERM "+ph.name+"; main:\n"+p.output()+"\nstderr:\n"+p.stderr.String())
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
	bin := binary(t)
	args := append(cliArgs(t, srv, suiteFile(t, "true")), "--candidates", "[{region: us-east-1}, {region: eu-west-1}]")
	p := start(t, bin, baseEnv(t), args)
	code := p.wait(t)
	out := p.output() + p.stderr.String()
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
	row := regexp.MustCompile(`(?m)^\| AWS \|([^|]*)\|([^|]*)\|.*\|([^|]*)\|$`).FindSubmatch(sum)
	if row == nil {
		t.Fatalf("summary has no AWS row:\n%s", sum)
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
	bin := binary(t)
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
		env := roleEnv(srv, dir, "INPUT_SUITE="+suiteFile(t, "sleep 4"))
		p := start(t, bin, env, nil)
		if code := p.wait(t); code != 0 {
			t.Fatalf("main: exit %d\n%s\nstderr:\n%s", code, p.output(), p.stderr.String())
		}
		if n := assumed(srv); n < 2 {
			t.Errorf("assume-role calls = %d, want more than one: the run outlived its first session\n%s", n, p.output())
		}
		if left := leftInFake(srv); len(left) > 0 {
			t.Errorf("left in the fake: %v", left)
		}
		runPostCleanly(t, bin, srv, env, readState(t, filepath.Join(dir, "state")), "main:\n"+p.output())
	})

	t.Run("post after main's session expired", func(t *testing.T) {
		srv := binaryFakeConfig(t, fake.Config{WebIdentityToken: "gh-oidc-token", RoleARN: role}, true, nil)
		dir := t.TempDir()
		env := roleEnv(srv, dir)
		p, killed := startKilledAtLaunch(t, srv, bin, env)
		if !killed {
			t.Fatalf("main ended before RunInstances answered\n%s\nstderr:\n%s", p.output(), p.stderr.String())
		}
		if i, _, _ := srv.Live(); i != 1 {
			t.Fatalf("after SIGKILL the fake holds %d instances, want the 1 main left behind", i)
		}
		srv.ExpireSessions()
		before := assumed(srv)
		out := runPostCleanly(t, bin, srv, env, readState(t, filepath.Join(dir, "state")), "")
		if assumed(srv) <= before {
			t.Errorf("the post step minted no session of its own:\n%s", out)
		}
		if !strings.Contains(out, "deleted instance") || !strings.Contains(out, "leak check") {
			t.Errorf("post output:\n%s", out)
		}
	})
}
