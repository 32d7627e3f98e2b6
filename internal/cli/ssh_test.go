package cli_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/providertest"
)

// sshHost boots a real sshd test host that accepts a fresh client key for
// root, and returns it with the key's PEM file.
func sshHost(t *testing.T) (*testhost.Host, string, []byte) {
	t.Helper()
	testhost.RequireRoot(t)
	keyPEM, authorized := testhost.ClientKeyPEM(t)
	h := testhost.Start(t, testhost.Options{Users: []testhost.User{{Name: "root", AuthorizedKeys: []string{authorized}}}})
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return h, keyFile, keyPEM
}

func TestSSHProviderRefusesWrongHostKey(t *testing.T) {
	h, keyFile, _ := sshHost(t)
	_, otherHostKey := testhost.HostKeyPair(t)
	marker := filepath.Join(t.TempDir(), "ran")
	suite := writeSuite(t, fmt.Sprintf("user: root\nsteps:\n  - name: touch\n    run: touch %s\n", marker))
	out := filepath.Join(t.TempDir(), "out")
	r := runBin(t, cmdEnv(t), "run", "--provider", "ssh", "--suite", suite, "--out", out,
		"--ssh-host", h.Addr(), "--ssh-port", fmt.Sprint(h.Port()), "--ssh-user", "root",
		"--ssh-private-key-file", keyFile, "--ssh-known-host", fmt.Sprintf("[%s]:%d %s", h.Addr(), h.Port(), otherHostKey),
		"--ready-timeout", "20s")
	// Exit 2, as for any input that does not fit the host: the pinned key
	// came from ssh-known-host, and the error says so.
	if r.code != 2 {
		t.Fatalf("exit %d with a wrong host key, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout+r.stderr, `input "ssh-known-host"`) {
		t.Errorf("the refusal does not name the input ssh-known-host:\n%s\n%s", r.stdout, r.stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a command ran on a host that presented the wrong host key")
	}
	// Refused as a mismatch naming both keys' fingerprints: the pinned key
	// reached the cycle, and the host presented another.
	fingerprint := func(line string) string {
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		return ssh.FingerprintSHA256(k) + " (" + k.Type() + ")"
	}
	want := "host key mismatch at " + net.JoinHostPort(h.Addr(), fmt.Sprint(h.Port())) +
		": expected " + fingerprint(otherHostKey) + ", presented " + fingerprint(h.HostKey())
	if !strings.Contains(r.stdout+r.stderr, want) {
		t.Errorf("output does not refuse the host key with %q:\n%s\n%s", want, r.stdout, r.stderr)
	}
	if p := phaseStatus(t, filepath.Join(out, "result.json"), "ready"); p != "fail" {
		t.Errorf("ready phase %q, want fail", p)
	}
}

// insecure-host-key without ssh-known-host reaches the host, unpinned,
// with a warning: the input travels from the configuration to the cycle,
// which refuses any host without a key otherwise.
func TestSSHProviderInsecureHostKeyRunsWithWarning(t *testing.T) {
	h, keyFile, _ := sshSudoUserHost(t)
	marker := filepath.Join(openTempDir(t, "mvm-cli-shared-"), "ran")
	suite := writeSuite(t, fmt.Sprintf("user: %s\nsteps:\n  - name: touch\n    run: touch %s\n", cliSuiteUser, marker))
	out := filepath.Join(t.TempDir(), "out")
	r := runBin(t, cmdEnv(t), append([]string{"run", "--provider", "ssh", "--suite", suite, "--out", out,
		"--ssh-host", h.Addr(), "--ssh-port", fmt.Sprint(h.Port()), "--ssh-user", cliSuiteUser,
		"--ssh-private-key-file", keyFile, "--insecure-host-key", "--ready-timeout", "20s"}, thisHostLane().laneArgs()...)...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the step did not run on the host: %v", err)
	}
	if !strings.Contains(r.stdout, "host key of "+h.Addr()+" is not pinned (insecure-host-key)") {
		t.Errorf("stdout does not say that the host key is not pinned:\n%s", r.stdout)
	}
	// One warning, in one format: not one per layer (configuration,
	// provider, cycle, SSH dial, host key callback).
	var warnings []string
	for _, l := range strings.Split(r.stdout+r.stderr, "\n") {
		if strings.Contains(l, "warning:") || strings.Contains(l, "level=WARN") || strings.Contains(l, "::warning") {
			warnings = append(warnings, l)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "mvm-verify: warning: insecure-host-key is true") {
		t.Errorf("warnings %q, want the one about insecure-host-key", warnings)
	}
}

// TestSecretsStayOut runs a whole cycle with a private key given as an
// input and checks that no private key material or user data shows up in
// anything the run writes (TestSecretsStayOutLocal does the same for the
// run's own per-run keys).
func TestSecretsStayOut(t *testing.T) {
	h, _, keyPEM := sshSudoUserHost(t)
	dir := t.TempDir()
	runner := providertest.NewRunner(t, "")
	suite := writeSuite(t, "user: "+cliSuiteUser+"\nsteps:\n  - name: hello\n    run: echo hi\n")
	out := filepath.Join(dir, "out")
	r := runBin(t, cmdEnv(t, append(append(runner.Env(), "GITHUB_ACTIONS=true", "GITHUB_RUN_ID=1",
		"INPUT_PROVIDER=ssh", "INPUT_SUITE="+suite, "INPUT_OUT="+out,
		"INPUT_SSH-HOST="+h.Addr(), fmt.Sprintf("INPUT_SSH-PORT=%d", h.Port()), "INPUT_SSH-USER="+cliSuiteUser,
		"INPUT_SSH-PRIVATE-KEY="+string(keyPEM), "INPUT_SSH-KNOWN-HOST="+h.KnownHostsLine()), thisHostLane().laneInputs()...)...))
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	checkSecretsStayOut(t, r.stdout, r.stderr,
		[]string{runner.OutputFile, runner.StateFile, runner.SummaryFile, out},
		append(append([]string{}, secretMarkers...), pemBodyLines(t, keyPEM)...))
}

// TestSSHUpThenDown keeps an existing host whose suite user did not exist:
// up creates the user (with passwordless sudo) and uploads the probe, and
// down must undo both over SSH, since the ssh provider deletes nothing.
// It logs in as a user with passwordless sudo, as on a cloud image, not
// root (see cliSuiteUser).
func TestSSHUpThenDown(t *testing.T) {
	h, keyFile, _ := sshSudoUserHost(t)
	const suiteUser = "mvmv-sshup" // a machine-wide account: fixed, and removed if a failed run left it
	exec.Command("userdel", "-r", "-f", suiteUser).Run()
	for _, f := range []string{"/etc/sudoers.d/90-mvm-verify-" + suiteUser, "/var/lib/mvm-verify/created-user-" + suiteUser} {
		os.Remove(f)
	}
	t.Cleanup(func() {
		exec.Command("userdel", "-r", "-f", suiteUser).Run()
		os.Remove("/etc/sudoers.d/90-mvm-verify-" + suiteUser)
		os.Remove("/var/lib/mvm-verify/created-user-" + suiteUser)
	})
	if _, err := user.Lookup(suiteUser); err == nil {
		t.Fatalf("user %s exists before the test and could not be removed", suiteUser)
	}
	out := filepath.Join(t.TempDir(), "out")
	suite := writeSuite(t, "user: "+suiteUser+"\nsteps:\n  - name: noop\n    run: \"true\"\n")
	up := runBin(t, cmdEnv(t), append([]string{"up", "--provider", "ssh", "--suite", suite, "--out", out,
		"--ssh-host", h.Addr(), "--ssh-port", fmt.Sprint(h.Port()), "--ssh-user", cliSuiteUser,
		"--ssh-private-key-file", keyFile, "--ssh-known-host", h.KnownHostsLine()}, thisHostLane().laneArgs()...)...)
	if up.code != 0 {
		t.Fatalf("up exit %d\nstdout:\n%s\nstderr:\n%s", up.code, up.stdout, up.stderr)
	}
	// The login command up prints pins the host key given as
	// ssh-known-host, strictly.
	if want := " -o UserKnownHostsFile=" + filepath.Join(out, "host", "known_hosts") + " -o StrictHostKeyChecking=yes "; !strings.Contains(up.stdout, want) {
		t.Errorf("up's login command lacks %q:\n%s", want, up.stdout)
	}
	if known, err := os.ReadFile(filepath.Join(out, "host", "known_hosts")); err != nil || !strings.Contains(string(known), h.HostKey()) {
		t.Errorf("the state's known_hosts (%v) does not hold the host's key %s:\n%s", err, h.HostKey(), known)
	}
	data, err := os.ReadFile(filepath.Join(out, "host", "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Identity providers.Identity `json:"identity"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("host.json: %v", err)
	}
	left := map[string]string{
		"sudoers drop-in":    "/etc/sudoers.d/90-mvm-verify-" + suiteUser,
		"created-user mark":  "/var/lib/mvm-verify/created-user-" + suiteUser,
		"probe binary's dir": "/tmp/mvm-verify-" + st.Identity.Name(),
	}
	if _, err := user.Lookup(suiteUser); err != nil {
		t.Fatalf("up did not create the suite user: %v", err)
	}
	for what, path := range left {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s missing after up: %v", what, err)
		}
	}

	down := runBin(t, cmdEnv(t), "down", "--out", out)
	if down.code != 0 {
		t.Fatalf("down exit %d\nstdout:\n%s\nstderr:\n%s", down.code, down.stdout, down.stderr)
	}
	if _, err := user.Lookup(suiteUser); err == nil {
		t.Errorf("user %s (passwordless sudo) still exists after down", suiteUser)
	}
	for what, path := range left {
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s %s left after down (stat: %v)", what, path, err)
		}
	}
}

// TestPostCleansAnSSHHostAfterAKilledMain kills main (SIGKILL, as a job
// timeout does) while the suite runs on an existing host, then runs the
// post step from STATE_* as the runner would. The ssh provider deletes
// nothing, so only the post step can undo what the cycle did there: the
// suite user it created (with passwordless sudo), its marker, the probe
// binary's directory, and the step still running. With the pre-existing
// root as the suite user, the step is found by the leg's marker alone.
func TestPostCleansAnSSHHostAfterAKilledMain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, user string
		created    bool
	}{
		{"created suite user", "mvmv-sshpost", true},
		{"existing suite user", "root", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			postCleansSSHHost(t, tc.user, tc.created)
		})
	}
}

func postCleansSSHHost(t *testing.T, suiteUser string, created bool) {
	h, _, keyPEM := sshHost(t)
	sudoers := "/etc/sudoers.d/90-mvm-verify-" + suiteUser
	mark := "/var/lib/mvm-verify/created-user-" + suiteUser
	if created {
		// A machine-wide account: fixed, and removed if a failed run left it.
		exec.Command("userdel", "-r", "-f", suiteUser).Run()
		os.Remove(sudoers)
		os.Remove(mark)
		t.Cleanup(func() {
			exec.Command("userdel", "-r", "-f", suiteUser).Run()
			os.Remove(sudoers)
			os.Remove(mark)
		})
		if _, err := user.Lookup(suiteUser); err == nil {
			t.Fatalf("user %s exists before the test and could not be removed", suiteUser)
		}
	}
	// A sleep no other process on the machine has.
	sleepArg := fmt.Sprintf("%d.%d", 40000+os.Getpid()%10000, time.Now().UnixNano()%1000000)
	t.Cleanup(func() {
		// Only what this test started: the pids running its unique sleep.
		for _, p := range processesMentioning(t, "sleep "+sleepArg) {
			pid, _, _ := strings.Cut(p, ":")
			exec.Command("kill", "-KILL", pid).Run()
		}
	})
	dir := t.TempDir()
	runner := providertest.NewRunner(t, "")
	step := "sleep " + sleepArg
	if created {
		// The created user has passwordless sudo: a step may start root
		// processes too, which the post step must stop as well.
		step = "sudo -n setsid sleep " + sleepArg + " >/dev/null 2>&1 & sleep " + sleepArg
	}
	// Two uploads for post to undo: one into a directory it makes, one
	// over a file that was there before.
	uploads := t.TempDir()
	fresh := filepath.Join(uploads, "made", "y.sh")
	existing := filepath.Join(uploads, "existing.sh")
	if err := os.WriteFile(existing, []byte("before\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	suite := writeSuite(t, "user: "+suiteUser+"\nuploads:\n  - src: payload.sh\n    dst: "+fresh+
		"\n  - src: payload.sh\n    dst: "+existing+"\nsteps:\n  - name: long\n    run: "+step+"\n")
	if err := os.WriteFile(filepath.Join(filepath.Dir(suite), "payload.sh"), []byte("uploaded\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := cmdEnv(t, append(append(runner.Env(), "GITHUB_ACTIONS=true", "GITHUB_RUN_ID=1",
		"INPUT_PROVIDER=ssh", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "out"),
		"INPUT_SSH-HOST="+h.Addr(), fmt.Sprintf("INPUT_SSH-PORT=%d", h.Port()), "INPUT_SSH-USER=root",
		"INPUT_SSH-PRIVATE-KEY="+string(keyPEM), "INPUT_SSH-KNOWN-HOST="+h.KnownHostsLine()), thisHostLane().laneInputs()...)...)

	main := startBin(t, env)
	// The step's sleep, and the root one when the step starts it too. Only
	// the sleeps count, not the sudo that started the root one: whether
	// that sudo is still there depends on whether setsid had to fork, and
	// a poll that missed its moment would wait for it forever.
	want := 1
	if created {
		want = 2
	}
	sleeps := func() []string {
		var found []string
		for _, p := range processesMentioning(t, "sleep "+sleepArg) {
			if _, cmdline, _ := strings.Cut(p, ": "); strings.TrimSpace(cmdline) == "sleep "+sleepArg {
				found = append(found, p)
			}
		}
		return found
	}
	// Provisioning, the probe's upload and creating the user come first:
	// on a loaded machine that may take minutes, which is no failure.
	main.patience = 10 * time.Minute
	main.waitUntil("the suite's step", func() bool { return len(sleeps()) >= want },
		func() string {
			return fmt.Sprintf("processes mentioning sleep %s: %q", sleepArg, processesMentioning(t, "sleep "+sleepArg))
		})
	main.kill()

	state := runner.State(t)
	if state["outcome"] != "" || state["host-cleanups"] == "" {
		t.Fatalf("state after the kill: %v, want pending host cleanups and no outcome", state)
	}
	if strings.Contains(state["host-cleanups"], "PRIVATE KEY") {
		t.Fatal("the state holds the private key")
	}
	var pending struct {
		Cleanups []struct{ Command string } `json:"cleanups"`
	}
	if err := json.Unmarshal([]byte(state["host-cleanups"]), &pending); err != nil {
		t.Fatalf("state host-cleanups: %v", err)
	}
	probeDir := ""
	for _, c := range pending.Cleanups {
		if d, ok := strings.CutPrefix(c.Command, "rm -rf "); ok {
			probeDir = strings.Trim(d, "'")
		}
	}
	left := map[string]string{"probe binary's dir": probeDir, "upload's directory": filepath.Dir(fresh)}
	if data, err := os.ReadFile(existing); err != nil || string(data) != "uploaded\n" {
		t.Fatalf("%s before post: %q, %v; want the upload", existing, data, err)
	}
	if created {
		left["sudoers drop-in"] = sudoers
		left["created-user mark"] = mark
		if _, err := user.Lookup(suiteUser); err != nil {
			t.Fatalf("main did not create the suite user before the kill: %v", err)
		}
	}
	for what, path := range left {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s %q missing before post: %v", what, path, err)
		}
	}
	if len(processesMentioning(t, "sleep "+sleepArg)) == 0 {
		t.Fatal("the step ended with main; nothing for post to stop")
	}

	postEnv, postRunner := runner.Post(t, env)
	if !created {
		// A post step that cannot undo the changes fails, naming them:
		// here the saved host key is not the host's, so it must not log in.
		_, otherHostKey := testhost.HostKeyPair(t)
		badState := maps.Clone(state)
		badState["host-cleanups"] = strings.ReplaceAll(state["host-cleanups"], h.HostKey(), otherHostKey)
		bad := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
		bad.Env, _ = runnerPostEnv(t, env, badState) // its own files, as a step of its own
		out, err := bad.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("post with a wrong pinned host key: %v, want exit 1\n%s", err, out)
		}
		for _, want := range []string{"changes may be left", "stop the suite's processes", "remove probe binary"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("failed post does not say %q:\n%s", want, out)
			}
		}
		if len(processesMentioning(t, "sleep "+sleepArg)) == 0 {
			t.Fatal("a post that could not verify the host key still reached it")
		}
	}
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Env = postEnv
	out, err := post.CombinedOutput()
	if err != nil {
		t.Fatalf("post: %v\n%s", err, out)
	}
	if created {
		if _, err := user.Lookup(suiteUser); err == nil {
			t.Errorf("user %s (passwordless sudo) still exists after post", suiteUser)
		}
	}
	for what, path := range left {
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s %s left after post (stat: %v)", what, path, err)
		}
	}
	if p := processesMentioning(t, "sleep "+sleepArg); len(p) > 0 {
		t.Errorf("the step's process still runs after post: %v", p)
	}
	if data, err := os.ReadFile(existing); err != nil || string(data) != "before\n" {
		t.Errorf("%s after post: %q, %v; want it put back as before the run", existing, data, err)
	}
	if entries, _ := os.ReadDir(uploads); len(entries) != 1 {
		t.Errorf("%s holds %d entries after post, want only existing.sh (no upload, no copy of it beside)", uploads, len(entries))
	}
	summary := postRunner.Summary(t)
	if !strings.Contains(summary, "remove suite user "+suiteUser) && created ||
		!strings.Contains(summary, "stop the suite's processes") {
		t.Errorf("the summary does not say what post undid:\n%s", summary)
	}
	for _, l := range strings.Split(string(out)+summary, "\n") {
		// ::add-mask:: lines are how the runner learns what to hide.
		if strings.Contains(l, "PRIVATE KEY") && !strings.HasPrefix(l, "::add-mask::") {
			t.Errorf("post's output or summary holds the private key: %q", l)
		}
	}
}

// TestSSHMainClearsHostCleanupsItDid: when main's teardown undid its
// changes on the host, the state says nothing is pending, so the post step
// does not dial the host again.
func TestSSHMainClearsHostCleanupsItDid(t *testing.T) {
	h, _, keyPEM := sshSudoUserHost(t)
	dir := t.TempDir()
	runner := providertest.NewRunner(t, "")
	suite := writeSuite(t, "user: "+cliSuiteUser+"\nsteps:\n  - name: hello\n    run: echo hi\n")
	env := cmdEnv(t, append(append(runner.Env(), "GITHUB_ACTIONS=true", "GITHUB_RUN_ID=1",
		"INPUT_PROVIDER=ssh", "INPUT_SUITE="+suite, "INPUT_OUT="+filepath.Join(dir, "out"),
		"INPUT_SSH-HOST="+h.Addr(), fmt.Sprintf("INPUT_SSH-PORT=%d", h.Port()), "INPUT_SSH-USER="+cliSuiteUser,
		"INPUT_SSH-PRIVATE-KEY="+string(keyPEM), "INPUT_SSH-KNOWN-HOST="+h.KnownHostsLine()), thisHostLane().laneInputs()...)...)
	r := runBin(t, env)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	state := runner.State(t)
	var pending struct {
		Cleanups []struct{ Name string } `json:"cleanups"`
	}
	if err := json.Unmarshal([]byte(state["host-cleanups"]), &pending); err != nil {
		t.Fatalf("state host-cleanups %q: %v", state["host-cleanups"], err)
	}
	if len(pending.Cleanups) != 0 {
		t.Errorf("host cleanups still pending after main's teardown: %+v", pending.Cleanups)
	}
	postEnv, _ := runner.Post(t, env)
	post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
	post.Env = postEnv
	out, err := post.CombinedOutput()
	if err != nil {
		t.Fatalf("post: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "undo the changes on") {
		t.Errorf("post dialled the host for cleanups main had done:\n%s", out)
	}
}

// TestSSHBadInputCouldNotStart: on the ssh provider nothing is created, so
// SSH never getting into the host the user brought means the leg could not
// start: exit 2, status error, nothing run on the host, and the failure
// names the input to fix.
func TestSSHBadInputCouldNotStart(t *testing.T) {
	t.Parallel()
	h, keyFile, _ := sshHost(t)
	// A port on the test host's loopback address that nothing listens on.
	l, err := net.Listen("tcp", net.JoinHostPort(h.Addr(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	closedPort := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	_, otherHostKey := testhost.HostKeyPair(t)
	hostArgs := func(host, port, user, knownHost string) []string {
		return []string{"--ssh-host", host, "--ssh-port", port, "--ssh-user", user,
			"--ssh-private-key-file", keyFile, "--ssh-known-host", knownHost}
	}
	port := fmt.Sprint(h.Port())
	pinned := h.KnownHostsLine()
	cases := []struct {
		name string
		how  launch
		args []string
		want []string // all must appear in the output
	}{
		{"wrong user", launch{}, hostArgs(h.Addr(), port, "mvr-nosuchuser", pinned),
			[]string{`input "ssh-user": got "mvr-nosuchuser"`, `the key in input "ssh-private-key-file"`, "unable to authenticate"}},
		{"closed port", launch{}, hostArgs(h.Addr(), closedPort, "root", "["+h.Addr()+"]:"+closedPort+" "+h.HostKey()),
			[]string{`input "ssh-port": got "` + closedPort + `", expected the port sshd listens on at ` + h.Addr(), "connection refused"}},
		{"another host key", launch{}, hostArgs(h.Addr(), port, "root", fmt.Sprintf("[%s]:%d %s", h.Addr(), h.Port(), otherHostKey)),
			[]string{`input "ssh-known-host"`, "host key mismatch"}},
		// A name under .invalid never resolves (RFC 6761), and the run is
		// in a network namespace of its own with only a loopback that is
		// down: no lookup can leave the machine.
		{"unresolvable host", launch{prefix: []string{"unshare", "--net"}}, hostArgs("mvm-verify-test.invalid", "22", "root", "mvm-verify-test.invalid "+h.HostKey()),
			[]string{`input "ssh-host": got "mvm-verify-test.invalid", expected a host name or IP address this machine can resolve`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if len(tc.how.prefix) > 0 {
				if _, err := exec.LookPath(tc.how.prefix[0]); err != nil {
					t.Fatalf("%s missing (Debian package util-linux)", tc.how.prefix[0])
				}
			}
			marker := filepath.Join(t.TempDir(), "ran")
			suite := writeSuite(t, fmt.Sprintf("user: root\nsteps:\n  - name: touch\n    run: touch %s\n", marker))
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{"run", "--provider", "ssh", "--suite", suite, "--out", out, "--ready-timeout", "5s"}, tc.args...)
			r := runBinHow(t, tc.how, cmdEnv(t, "MVM_VERIFY_POLL_INTERVAL=50ms"), args...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2 (could not start)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			for _, w := range append(tc.want, "could not start") {
				if !strings.Contains(r.stdout+r.stderr, w) {
					t.Errorf("output lacks %q:\nstdout:\n%s\nstderr:\n%s", w, r.stdout, r.stderr)
				}
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("the suite ran on the host")
			}
			res := r.resultJSON(t)
			if res["outcome"] != "error" || res["could_not_start"] != true {
				t.Errorf("result.json: outcome %v, could_not_start %v; want error and true", res["outcome"], res["could_not_start"])
			}
			if p := phaseStatus(t, filepath.Join(out, "result.json"), "ready"); p != "fail" {
				t.Errorf("ready phase %q, want fail", p)
			}
		})
	}
}
