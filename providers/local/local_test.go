package local_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/proc"
	"github.com/tinylabscom/mvm-verify/internal/sshd"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/local"
)

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// tempUser is a user name of this test's own; the account is removed at
// the end even if the provider failed to.
func tempUser(t *testing.T) string {
	t.Helper()
	name := "lc" + randHex(3)
	t.Cleanup(func() { exec.Command("userdel", "-r", "-f", name).Run() })
	return name
}

// newProvider is the provider with its state in dir, seeing this machine's
// KVM as usable: the legs of these tests run the kvm lane for what it sets
// up (the kvm group, /dev/kvm root:kvm 0660) and never the probe, so they
// hold whether or not this machine has KVM. What the kvm lane's preflight
// says where KVM is unusable is TestKVMLaneRefusedWithoutKVM's.
func newProvider(t *testing.T, dir string) providers.Provider {
	t.Helper()
	p, err := local.New(providers.Options{Input: func(n string) string {
		if n == "local-state-dir" {
			return dir
		}
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	local.WithKVM(p, true)
	return p
}

type leg struct {
	req    providers.Request
	signer xssh.Signer
}

func newLeg(t *testing.T, userName, lane string) leg {
	t.Helper()
	signer, line := testhost.ClientKey(t)
	hostPEM, hostLine := testhost.HostKeyPair(t)
	now := time.Now()
	return leg{signer: signer, req: providers.Request{
		Identity: providers.Identity{Repo: "o/r", RunID: randHex(4), RunAttempt: "1", Job: "verify", Key: "local", Leg: randHex(6),
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		Lane: lane, User: userName, ClientAuthorizedKey: line, HostKeyPEM: hostPEM, HostKey: hostLine,
	}}
}

func login(t *testing.T, h *providers.Host, l leg) *xssh.Client {
	t.Helper()
	pinned, _, _, _, err := xssh.ParseAuthorizedKey([]byte(l.req.HostKey))
	if err != nil {
		t.Fatal(err)
	}
	c, err := xssh.Dial("tcp", net.JoinHostPort(h.Address, strconv.Itoa(h.Port)), &xssh.ClientConfig{
		User: h.User, Auth: []xssh.AuthMethod{xssh.PublicKeys(l.signer)},
		HostKeyCallback: xssh.FixedHostKey(pinned), Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh %s@%s:%d: %v", h.User, h.Address, h.Port, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type kvmPerms struct {
	uid, gid uint32
	mode     os.FileMode
}

func devKVM(t *testing.T) (kvmPerms, bool) {
	t.Helper()
	fi, err := os.Stat("/dev/kvm")
	if err != nil {
		return kvmPerms{}, false
	}
	st := fi.Sys().(*syscall.Stat_t)
	return kvmPerms{st.Uid, st.Gid, fi.Mode().Perm()}, true
}

// registeredLegs lists the legs registered machine-wide right now.
func registeredLegs(t *testing.T) []string {
	t.Helper()
	refs, _ := filepath.Glob(filepath.Join(local.MachineRegistry, "*.ref"))
	return refs
}

func sshdPid(t *testing.T, recs []providers.Resource) int {
	t.Helper()
	for _, r := range recs {
		if r.Kind == "sshd" {
			pid, err := strconv.Atoi(strings.TrimPrefix(r.ID, "pid "))
			if err != nil {
				t.Fatalf("sshd resource id %q", r.ID)
			}
			return pid
		}
	}
	t.Fatalf("no sshd among %+v", recs)
	return 0
}

// forceClean leaves the machine clean after the test even when the
// teardown under test is broken: it runs Destroy again, then undoes what the
// journal says the leg made, by hand: it kills the leg's sshd, its cgroup
// and every process carrying its marker, and removes its sudoers drop-in,
// work dir and machine-wide registration. Call it before Create, with the
// journal Create is given.
func forceClean(t *testing.T, dir string, l leg, j *providers.MemJournal) {
	t.Helper()
	t.Cleanup(func() {
		id := l.req.Identity
		if p, err := local.New(providers.Options{Input: func(n string) string {
			if n == "local-state-dir" {
				return dir
			}
			return ""
		}}); err == nil {
			p.Destroy(context.Background(), id)
		}
		for _, r := range j.Records() {
			switch r.Kind {
			case "sshd":
				pid, err := strconv.Atoi(strings.TrimPrefix(r.ID, "pid "))
				// The pid may have been reused since: only an sshd is ours.
				if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.HasPrefix(string(comm), "sshd") {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			case "processes":
				if r.Name != "" {
					os.WriteFile(filepath.Join(r.Name, "cgroup.kill"), []byte("1"), 0)
				}
				killMarked(strings.TrimPrefix(r.ID, local.MarkerVar+"="))
				if r.Name != "" {
					// rmdir fails until the killed processes are reaped.
					for i := 0; i < 500 && syscall.Rmdir(r.Name) == syscall.EBUSY; i++ {
						time.Sleep(10 * time.Millisecond)
					}
				}
			case "sudoers":
				if strings.HasPrefix(r.ID, "/etc/sudoers.d/mvm-verify-") {
					os.Remove(r.ID)
				}
			case "workdir":
				if strings.HasPrefix(r.ID, "/tmp/mvm-verify-") {
					os.RemoveAll(r.ID)
				}
			}
		}
		os.Remove("/etc/sudoers.d/mvm-verify-" + id.Name())
		os.Remove(filepath.Join(local.MachineRegistry, id.Name()+".ref"))
	})
}

// killMarked SIGKILLs the processes whose environment carries the leg's
// marker until none is left (one may fork meanwhile), giving up after a
// bounded number of rounds.
func killMarked(marker string) {
	if marker == "" {
		return
	}
	want := local.MarkerVar + "=" + marker
	for range 100 {
		entries, _ := os.ReadDir("/proc")
		found := false
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			env, _ := os.ReadFile("/proc/" + e.Name() + "/environ")
			if slices.Contains(strings.Split(string(env), "\x00"), want) {
				syscall.Kill(pid, syscall.SIGKILL)
				found = true
			}
		}
		if !found {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func kinds(rs []providers.Resource) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Kind)
	}
	return out
}

func TestCreateLoginDestroy(t *testing.T) {
	testhost.RequireRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	name := tempUser(t)
	kvmBefore, haveKVM := devKVM(t)
	l := newLeg(t, name, "kvm")
	p := newProvider(t, dir)
	if err := p.Preflight(ctx, l.req); err != nil {
		t.Fatal(err)
	}
	var j providers.MemJournal
	forceClean(t, dir, l, &j)
	h, err := p.Create(ctx, l.req, &j)
	if err != nil {
		t.Fatal(err)
	}
	if h.HostKey != l.req.HostKey || h.User != name || !strings.HasPrefix(h.Address, "127.") {
		t.Errorf("host %+v: want user %s on a loopback address with the run's host key", h, name)
	}
	// The host is this machine, so the provider knows its platform.
	if uname, err := exec.Command("uname", "-sm").Output(); err != nil || h.Uname != strings.TrimSpace(string(uname)) {
		t.Errorf("host Uname %q, uname -sm here says %q (%v)", h.Uname, uname, err)
	}
	got := kinds(j.Records())
	for _, k := range []string{"user", "sudoers", "sshd"} {
		if !slices.Contains(got, k) {
			t.Errorf("journal %v lacks %s", got, k)
		}
	}
	for _, r := range j.Records() {
		if !l.req.Identity.Matches(r.Tags) {
			t.Errorf("resource %s %s lacks the leg's tags: %v", r.Kind, r.ID, r.Tags)
		}
	}
	pid := sshdPid(t, j.Records())

	c := login(t, h, l)
	checks := []struct{ cmd, want string }{
		{"id -un", name},
		{"sudo -n id -un", "root"},
	}
	if haveKVM {
		checks = append(checks, struct{ cmd, want string }{"test -r /dev/kvm && test -w /dev/kvm && echo rw", "rw"})
	}
	for _, tc := range checks {
		if out, ok := testhost.Exec(t, c, tc.cmd); !ok || out != tc.want {
			t.Errorf("%s = %q (ok %v), want %q", tc.cmd, out, ok, tc.want)
		}
	}
	groups, _ := testhost.Exec(t, c, "id -Gn")
	for _, g := range []string{"kvm", "sudo"} {
		if !slices.Contains(strings.Fields(groups), g) {
			t.Errorf("groups %q lack %s", groups, g)
		}
	}
	// What the cycle uploads goes to the host's WorkDir, which Destroy
	// removes without SSH: after a signal sshd is already gone.
	if !strings.HasPrefix(h.WorkDir, "/tmp/mvm-verify-") {
		t.Fatalf("Host.WorkDir = %q, want a directory under /tmp for the cycle's files", h.WorkDir)
	}
	if out, ok := testhost.Exec(t, c, "mkdir -p "+h.WorkDir+" && echo probe >"+h.WorkDir+"/mvm-verify && cat "+h.WorkDir+"/mvm-verify"); !ok || out != "probe" {
		t.Fatalf("write into the work dir as the suite's user: %q", out)
	}
	// A daemon the suite left behind, detached from the session.
	out, ok := testhost.Exec(t, c, "setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $!")
	daemon, err := strconv.Atoi(out)
	if !ok || err != nil {
		t.Fatalf("start a detached process: %q", out)
	}
	c.Close()

	f := providers.Filter{Run: l.req.Identity.Run(), Key: l.req.Identity.Key}
	listed, err := p.List(ctx, f)
	if err != nil || !slices.Contains(kinds(listed), "sshd") {
		t.Fatalf("List = %v, %v; want the running sshd", kinds(listed), err)
	}

	// The post step: a fresh provider that knows only the identity.
	rep, err := newProvider(t, dir).Destroy(ctx, l.req.Identity)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(kinds(rep.Deleted), "sshd") || !slices.Contains(kinds(rep.Deleted), "user") {
		t.Errorf("report %v, want sshd and user deleted", kinds(rep.Deleted))
	}
	if proc.Alive(pid) {
		t.Errorf("sshd %d still running after Destroy", pid)
	}
	if proc.Alive(daemon) {
		t.Errorf("the user's detached process %d still running after Destroy", daemon)
	}
	if _, err := user.Lookup(name); err == nil {
		t.Errorf("user %s still exists after Destroy", name)
	}
	if _, err := os.Lstat(h.WorkDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("work dir %s left after Destroy (stat: %v)", h.WorkDir, err)
	}
	if drops, _ := filepath.Glob("/etc/sudoers.d/mvm-verify-" + l.req.Identity.Name()); len(drops) != 0 {
		t.Errorf("sudoers drop-in left: %v", drops)
	}
	if haveKVM {
		// /dev/kvm belongs to the machine: other test processes' legs may
		// hold it, and then Destroy rightly hands the change over instead.
		after, _ := devKVM(t)
		want, what := kvmBefore, "before Create"
		for _, r := range rep.Deleted {
			if r.Kind == "devkvm-perms" {
				want, what = kvmPerms{}, "as recorded at Create ("+r.Name+")"
				fmt.Sscanf(r.Name, "was %d:%d %o", &want.uid, &want.gid, &want.mode)
			}
		}
		handed := slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.HasPrefix(n, "devkvm-perms") })
		if others := registeredLegs(t); len(others) > 0 || handed {
			t.Logf("other legs hold /dev/kvm (%v); not checking its restore", others)
		} else if after != want {
			t.Errorf("/dev/kvm %+v after Destroy, want %+v %s", after, want, what)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(files) != 0 {
		t.Errorf("state files left: %v", files)
	}
	if listed, err := p.List(ctx, f); err != nil || len(listed) != 0 {
		t.Errorf("List after Destroy = %v, %v; want nothing", kinds(listed), err)
	}
	if rep, err := p.Destroy(ctx, l.req.Identity); err != nil || len(rep.Deleted) != 0 {
		t.Errorf("second Destroy = %+v, %v; want nothing to do", rep, err)
	}
}

// sshd reads authorized_keys as the user logging in: with root's TMPDIR
// private (0700), a suite user the run created still logs in, because the
// sshd's files then go where every user can reach them.
func TestCreatedUserLogsInWithPrivateTMPDIR(t *testing.T) {
	testhost.RequireRoot(t)
	ctx := context.Background()
	private := t.TempDir()
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", private)
	l := newLeg(t, tempUser(t), "kvm")
	p := newProvider(t, t.TempDir())
	h, err := p.Create(ctx, l.req, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Destroy(context.Background(), l.req.Identity) })
	if out, ok := testhost.Exec(t, login(t, h, l), "id -un"); !ok || out != l.req.User {
		t.Errorf("id -un = %q (ok %v), want %s", out, ok, l.req.User)
	}
}

// TestNoKVMLaneHidesKVM runs in a mount namespace whose /dev/kvm is the
// test's own node, so the hiding is exercised whether or not this machine
// has KVM.
func TestNoKVMLaneHidesKVM(t *testing.T) {
	testhost.RequireRoot(t)
	if !testhost.InStandInKVM(t) {
		return
	}
	before, ok := devKVM(t)
	if !ok {
		t.Fatal("no stand-in /dev/kvm in the test's mount namespace")
	}
	ctx := context.Background()
	l := newLeg(t, "root", "no-kvm")
	p := newProvider(t, t.TempDir())
	var j providers.MemJournal
	h, err := p.Create(ctx, l.req, &j)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Destroy(context.Background(), l.req.Identity) })
	if slices.Contains(kinds(j.Records()), "devkvm-perms") {
		t.Errorf("no-kvm lane changed /dev/kvm: %v", kinds(j.Records()))
	}
	c := login(t, h, l)
	if out, ok := testhost.Exec(t, c, "id -un"); !ok || out != "root" {
		t.Errorf("id -un = %q", out)
	}
	if _, ok := testhost.Exec(t, c, "test -e /dev/kvm"); ok {
		t.Error("/dev/kvm exists inside the no-kvm host")
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Errorf("/dev/kvm vanished from this machine: %v", err)
	}
	if _, err := p.Destroy(ctx, l.req.Identity); err != nil {
		t.Fatal(err)
	}
	if after, _ := devKVM(t); after != before {
		t.Errorf("/dev/kvm %+v, was %+v", after, before)
	}
}

// TestSharedUserHandover runs two legs for one new user: the first to go
// must leave the user to the second, the last one removes it.
// TestSharedUserHandover: two legs share the suite user; the first to go
// hands the user to the other, which restores it last. Legs find each other
// through the machine-wide registry, so it holds when their state
// directories differ too (parallel test processes, or two CLI runs).
func TestSharedUserHandover(t *testing.T) {
	testhost.RequireRoot(t)
	for _, sameDir := range []bool{true, false} {
		t.Run(fmt.Sprintf("same state dir %v", sameDir), func(t *testing.T) {
			ctx := context.Background()
			name := tempUser(t)
			a, b := newLeg(t, name, "kvm"), newLeg(t, name, "no-kvm")
			pa := newProvider(t, t.TempDir())
			pb := pa
			if !sameDir {
				pb = newProvider(t, t.TempDir())
			}
			if _, err := pa.Create(ctx, a.req, nil); err != nil {
				t.Fatal(err)
			}
			hb, err := pb.Create(ctx, b.req, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { pb.Destroy(context.Background(), b.req.Identity) })
			if _, err := pa.Destroy(ctx, a.req.Identity); err != nil {
				t.Fatal(err)
			}
			if _, err := user.Lookup(name); err != nil {
				t.Fatalf("user %s removed while leg b still uses it: %v", name, err)
			}
			if out, ok := testhost.Exec(t, login(t, hb, b), "id -un"); !ok || out != name {
				t.Errorf("leg b: id -un = %q", out)
			}
			listed, _ := pb.List(ctx, providers.Filter{Run: b.req.Identity.Run(), Key: "local"})
			if !slices.Contains(kinds(listed), "user") {
				t.Errorf("leg b's resources %v do not include the inherited user", kinds(listed))
			}
			if _, err := pb.Destroy(ctx, b.req.Identity); err != nil {
				t.Fatal(err)
			}
			if _, err := user.Lookup(name); err == nil {
				t.Errorf("user %s left after the last leg", name)
			}
		})
	}
}

// The state directory a run made goes with its last leg: no empty
// directory is left behind (by default in /tmp), and one still holding
// another leg's state stays. A Destroy with nothing to do (a post step
// after the main step tore down) leaves none either.
func TestStateDirRemovedWithTheLastLeg(t *testing.T) {
	testhost.RequireRoot(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	p := newProvider(t, dir)
	a, b := newLeg(t, "root", "kvm"), newLeg(t, "root", "kvm")
	for _, l := range []leg{a, b} {
		if _, err := p.Create(ctx, l.req, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Destroy(context.Background(), l.req.Identity) })
	}
	if _, err := p.Destroy(ctx, a.req.Identity); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("state dir gone while leg b keeps its state there: %v", err)
	}
	if _, err := p.Destroy(ctx, b.req.Identity); err != nil {
		t.Fatal(err)
	}
	if entries, err := os.ReadDir(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir %s left after the last leg (%v): %v", dir, err, entries)
	}
	if _, err := p.Destroy(ctx, b.req.Identity); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a Destroy with nothing to do left the state dir %s: %v", dir, err)
	}
}

// A local-state-dir the user made (empty, say ${{ runner.temp }}/x) is
// theirs: the last leg leaves it, emptied of its own state.
func TestUsersStateDirKept(t *testing.T) {
	testhost.RequireRoot(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "mine")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, dir)
	l := newLeg(t, "root", "kvm")
	if _, err := p.Create(ctx, l.req, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Destroy(context.Background(), l.req.Identity) })
	if _, err := p.Destroy(ctx, l.req.Identity); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("the user's state dir was removed: %v", err)
	}
	if len(entries) != 0 {
		t.Errorf("the user's state dir holds %v after the last leg", entries)
	}
}

func TestCreateAgainReplacesPreviousAttempt(t *testing.T) {
	testhost.RequireRoot(t)
	ctx := context.Background()
	p := newProvider(t, t.TempDir())
	l := newLeg(t, "root", "kvm")
	var j1, j2 providers.MemJournal
	if _, err := p.Create(ctx, l.req, &j1); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Create(ctx, l.req, &j2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Destroy(context.Background(), l.req.Identity) })
	first, second := sshdPid(t, j1.Records()), sshdPid(t, j2.Records())
	if proc.Alive(first) {
		t.Errorf("first attempt's sshd %d still runs", first)
	}
	if !proc.Alive(second) {
		t.Errorf("second attempt's sshd %d is not running", second)
	}
	if _, err := p.Destroy(ctx, l.req.Identity); err != nil {
		t.Fatal(err)
	}
	if proc.Alive(second) {
		t.Errorf("sshd %d still running after Destroy", second)
	}
}

func TestPreflightRefusals(t *testing.T) {
	p := newProvider(t, t.TempDir())
	for _, tc := range []struct {
		name string
		req  providers.Request
		want string
	}{
		{"no user", providers.Request{}, `suite user ""`},
		{"bad user", providers.Request{User: "Bad User"}, `suite user "Bad User"`},
		{"bad lane", providers.Request{User: "root", Lane: "fast"}, `lane "fast": expected kvm or no-kvm`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Preflight(context.Background(), tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if providers.ClassOf(err) != providers.ClassInvalid {
				t.Errorf("class %v, want invalid", providers.ClassOf(err))
			}
		})
	}
}

// A state directory that cannot be made or written is refused when the
// provider is made and at preflight, naming the input, the value and the
// form expected, and nothing is left behind.
func TestStateDirUnusable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"/proc/nope", "/proc/nope/deeper", file, filepath.Join(file, "under")} {
		_, err := local.New(providers.Options{Input: func(n string) string {
			if n == "local-state-dir" {
				return dir
			}
			return ""
		}})
		want := `input "local-state-dir": got "` + dir + `", expected an absolute path to a directory owned by you, not writable by group or others and not a symlink`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", dir, err, want)
		}
	}
	if left, _ := filepath.Glob("/proc/.mvm-verify-check-*"); len(left) > 0 {
		t.Errorf("scratch left: %v", left)
	}
	// Preflight checks again: the directory may have gone since.
	gone := filepath.Join(t.TempDir(), "state")
	p := newProvider(t, gone)
	if err := os.WriteFile(gone, nil, 0o644); err != nil { // now a file
		t.Fatal(err)
	}
	err := p.Preflight(context.Background(), providers.Request{User: "root", Lane: "kvm"})
	if err == nil || !strings.Contains(err.Error(), `input "local-state-dir": got "`+gone+`"`) || providers.ClassOf(err) != providers.ClassInvalid {
		t.Errorf("preflight with the state dir now a file: err %v (class %v), want it refused as invalid", err, providers.ClassOf(err))
	}
	// A directory that can be made is not made yet: New and Preflight
	// leave nothing behind.
	fresh := filepath.Join(t.TempDir(), "x", "y")
	p = newProvider(t, fresh)
	if err := p.Preflight(context.Background(), providers.Request{User: "root", Lane: "kvm"}); err != nil {
		t.Errorf("preflight with a state dir that can be made: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(filepath.Dir(fresh))); len(entries) != 0 {
		t.Errorf("New or Preflight left %v", entries)
	}
}

func TestStateDirInput(t *testing.T) {
	if _, err := local.New(providers.Options{Input: func(string) string { return "relative/dir" }}); err == nil ||
		!strings.Contains(err.Error(), `input "local-state-dir": got "relative/dir", expected an absolute path`) {
		t.Errorf("relative dir: err %v", err)
	}
	// The default is the same in the main and the post step: under RUNNER_TEMP.
	runnerTemp := t.TempDir()
	p, err := local.New(providers.Options{Getenv: func(k string) string {
		if k == "RUNNER_TEMP" {
			return runnerTemp
		}
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	local.WithKVM(p, true) // as newProvider: this leg never runs the probe
	testhost.RequireRoot(t)
	l := newLeg(t, "root", "kvm")
	if _, err := p.Create(context.Background(), l.req, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Destroy(context.Background(), l.req.Identity) })
	if files, _ := filepath.Glob(filepath.Join(runnerTemp, "mvm-verify-local", "*.json")); len(files) != 1 {
		t.Errorf("state files under RUNNER_TEMP: %v, want one", files)
	}
}

// sleepers returns the live processes running `sleep arg`.
func sleepers(t *testing.T, arg string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// A zombie's command line reads empty: it no longer runs.
		b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"); len(args) == 2 &&
			filepath.Base(args[0]) == "sleep" && args[1] == arg {
			out = append(out, pid)
		}
	}
	return out
}

// uniqueSleep is a sleep argument no other process on the machine uses.
func uniqueSleep() string {
	b := make([]byte, 3)
	rand.Read(b)
	return strconv.Itoa(5_000_000 + int(b[0])<<16 | int(b[1])<<8 | int(b[2]))
}

// TestDestroyKillsEverythingTheLegStarted: processes a step detached from
// sshd's tree (setsid, reparented to init) must be gone after Destroy from a
// fresh process, whether the suite user is root or a user the leg created,
// and whether the leg's processes are held by a cgroup or found only by
// their environment (no cgroup to be had).
func TestDestroyKillsEverythingTheLegStarted(t *testing.T) {
	testhost.RequireRoot(t)
	for _, tc := range []struct {
		user     string
		noCgroup bool
	}{{"root", false}, {"", false}, {"root", true}, {"", true}} {
		userName := tc.user
		if userName == "" {
			userName = "created"
		}
		t.Run(fmt.Sprintf("user %s, no cgroup %v", userName, tc.noCgroup), func(t *testing.T) {
			if _, err := local.Cgroup2Mount(); err != nil && !tc.noCgroup {
				// A cgroup v1 machine still has the v2 hierarchy, unmounted:
				// mount it where only this test's namespace sees it.
				if !testhost.RerunInMountNamespace(t, `mount -t cgroup2 cgroup2 "$CGROUP2_DIR"`, "CGROUP2_DIR="+t.TempDir()) {
					return
				}
			}
			if tc.user == "" {
				userName = tempUser(t)
			}
			ctx := context.Background()
			dir := t.TempDir()
			p := newProvider(t, dir)
			if tc.noCgroup {
				local.WithoutCgroup(p)
			}
			l := newLeg(t, userName, "kvm")
			var j providers.MemJournal
			forceClean(t, dir, l, &j)
			h, err := p.Create(ctx, l.req, &j)
			if err != nil {
				t.Fatal(err)
			}
			var cgroup string
			for _, r := range j.Records() {
				if r.Kind == "processes" {
					cgroup = r.Name
				}
			}
			if !slices.Contains(kinds(j.Records()), "processes") {
				t.Fatalf("journal %v lacks the leg's processes", kinds(j.Records()))
			}
			if tc.noCgroup != (cgroup == "") {
				t.Fatalf("cgroup %q with cgroups taken away %v", cgroup, tc.noCgroup)
			}
			c := login(t, h, l)
			args := []string{uniqueSleep()}
			cmds := []string{"setsid sleep " + args[0] + " </dev/null >/dev/null 2>&1 &"}
			if tc.user == "" {
				// Through sudo, which resets the environment and runs as root.
				args = append(args, uniqueSleep())
				cmds = append(cmds, "sudo -n setsid sleep "+args[1]+" </dev/null >/dev/null 2>&1 &")
			}
			for i, cmd := range cmds {
				if out, ok := testhost.Exec(t, c, cmd); !ok {
					t.Fatalf("%s: %s", cmd, out)
				}
				var pids []int
				for range 500 {
					if pids = sleepers(t, args[i]); len(pids) > 0 {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				if len(pids) != 1 {
					t.Fatalf("%s started %v", cmd, pids)
				}
				if cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pids[0])); tc.noCgroup == strings.Contains(string(cg), "mvm-verify-local") {
					t.Errorf("process %d in cgroups %q; want it in the leg's cgroup only when there is one", pids[0], cg)
				}
				env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pids[0]))
				if !strings.Contains(string(env), local.MarkerVar+"=") {
					t.Errorf("process %d lacks %s in its environment", pids[0], local.MarkerVar)
				}
			}
			c.Close()

			rep, err := newProvider(t, dir).Destroy(ctx, l.req.Identity)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(kinds(rep.Deleted), "processes") {
				t.Errorf("report %v lacks the leg's processes", kinds(rep.Deleted))
			}
			for _, a := range args {
				if left := sleepers(t, a); len(left) > 0 {
					t.Errorf("sleep %s still running after Destroy: pids %v", a, left)
				}
			}
			if cgroup != "" {
				if _, err := os.Stat(cgroup); !os.IsNotExist(err) {
					t.Errorf("cgroup %s left after Destroy: %v", cgroup, err)
				}
			}
		})
	}
}

// TestNoSSHD: without sshd on the machine, Preflight and Create say which
// package provides it, and Create leaves nothing behind.
func TestNoSSHD(t *testing.T) {
	testhost.RequireRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	p := newProvider(t, dir)
	empty := t.TempDir()
	local.WithSSHDLookup(p, func() (string, error) { return sshd.Lookup(nil, empty) })
	name := tempUser(t)
	l := newLeg(t, name, "kvm")
	if err := p.Preflight(ctx, l.req); err == nil || !strings.Contains(err.Error(), "openssh-server") ||
		providers.ClassOf(err) != providers.ClassInvalid {
		t.Errorf("Preflight = %v (class %v), want an invalid-class error naming openssh-server", err, providers.ClassOf(err))
	}
	var j providers.MemJournal
	h, err := p.Create(ctx, l.req, &j)
	if err == nil || !strings.Contains(err.Error(), "openssh-server") {
		t.Fatalf("Create = %+v, %v; want an error naming openssh-server", h, err)
	}
	if recs := j.Records(); len(recs) != 0 {
		t.Errorf("Create recorded %v", kinds(recs))
	}
	if _, err := user.Lookup(name); err == nil {
		t.Errorf("user %s created", name)
	}
	if files, _ := os.ReadDir(dir); len(files) > 1 || len(files) == 1 && files[0].Name() != ".lock" {
		t.Errorf("state dir holds %v", files)
	}
	if refs, _ := filepath.Glob(filepath.Join(local.MachineRegistry, l.req.Identity.Name()+".*")); len(refs) != 0 {
		t.Errorf("registered: %v", refs)
	}
	if drops, _ := filepath.Glob("/etc/sudoers.d/mvm-verify-" + l.req.Identity.Name()); len(drops) != 0 {
		t.Errorf("sudoers drop-in written: %v", drops)
	}
}

// Lane auto on this machine: the kvm lane only where KVM works, so a machine
// without it runs the no-kvm lane rather than failing the KVM check.
func TestOfferedLanesFollowThisMachine(t *testing.T) {
	p := newProvider(t, t.TempDir())
	lo, ok := p.(providers.LaneOfferer)
	if !ok {
		t.Fatal("the local provider does not say which lanes this machine offers")
	}
	local.WithKVM(p, false)
	if got := lo.OfferedLanes(); !slices.Equal(got, []string{"no-kvm"}) {
		t.Errorf("without KVM: %v, want [no-kvm]", got)
	}
	local.WithKVM(p, true)
	if got := lo.OfferedLanes(); !slices.Equal(got, []string{"kvm", "no-kvm"}) {
		t.Errorf("with KVM: %v, want [kvm no-kvm]", got)
	}
}

// TestCreateSweepsLeftoverCgroups: empty leg cgroups that no registered leg
// names (their leg's state is gone) are removed by the next Create and
// Destroy; a registered leg's cgroup stays even when empty, and so does a
// leftover that still holds a process.
func TestCreateSweepsLeftoverCgroups(t *testing.T) {
	testhost.RequireRoot(t)
	mount, err := local.Cgroup2Mount()
	if err != nil {
		// A cgroup v1 machine still has the v2 hierarchy, unmounted: mount
		// it where only this test's namespace sees it.
		if !testhost.RerunInMountNamespace(t, `mount -t cgroup2 cgroup2 "$CGROUP2_DIR"`, "CGROUP2_DIR="+t.TempDir()) {
			return
		}
		if mount, err = local.Cgroup2Mount(); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	p := newProvider(t, t.TempDir())
	a := newLeg(t, "root", "no-kvm")
	var ja providers.MemJournal
	if _, err := p.Create(ctx, a.req, &ja); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Destroy(context.Background(), a.req.Identity) })
	var cgA string
	for _, r := range ja.Records() {
		if r.Kind == "processes" {
			cgA = r.Name
		}
	}
	if cgA == "" {
		t.Fatalf("leg a has no cgroup: %v", ja.Records())
	}
	// Leg a's processes die (as if killed), leaving its cgroup empty but
	// its leg registered.
	if err := os.WriteFile(cgA+"/cgroup.kill", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(cgA + "/cgroup.procs"); err != nil || len(strings.TrimSpace(string(b))) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	parent := filepath.Join(mount, "mvm-verify-local")
	leftover := filepath.Join(parent, "mvmv-local-leftover"+randHex(4)+"-00000000")
	busy := filepath.Join(parent, "mvmv-local-leftover"+randHex(4)+"-00000001")
	for _, d := range []string{leftover, busy} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Rmdir(d) })
	}
	sleeper := exec.Command("sleep", uniqueSleep())
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	if err := os.WriteFile(busy+"/cgroup.procs", []byte(strconv.Itoa(sleeper.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}

	b := newLeg(t, "root", "no-kvm")
	if _, err := p.Create(ctx, b.req, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Destroy(context.Background(), b.req.Identity) })
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("empty leftover cgroup %s survived Create (stat: %v)", leftover, err)
	}
	if _, err := os.Stat(busy); err != nil {
		t.Errorf("Create removed leftover cgroup %s, which still holds a process: %v", busy, err)
	}
	if _, err := os.Stat(cgA); err != nil {
		t.Errorf("Create removed registered leg a's cgroup %s: %v", cgA, err)
	}

	// Destroy sweeps too.
	if err := os.Mkdir(leftover, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Destroy(ctx, b.req.Identity); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("empty leftover cgroup %s survived Destroy (stat: %v)", leftover, err)
	}
	if _, err := os.Stat(cgA); err != nil {
		t.Errorf("Destroy of leg b removed leg a's cgroup %s: %v", cgA, err)
	}
	if _, err := p.Destroy(ctx, a.req.Identity); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cgA); !os.IsNotExist(err) {
		t.Errorf("leg a's cgroup %s left after its Destroy (stat: %v)", cgA, err)
	}
}

// TestDestroyTermsBeforeKill: the leg's processes get SIGTERM first, so one
// that cleans up on its way out (a shell holding a lock file) does, and
// one that ignores SIGTERM is still killed.
func TestDestroyTermsBeforeKill(t *testing.T) {
	testhost.RequireRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	p := newProvider(t, dir)
	l := newLeg(t, "root", "no-kvm")
	h, err := p.Create(ctx, l.req, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { newProvider(t, dir).Destroy(context.Background(), l.req.Identity) })
	cleaned := filepath.Join(t.TempDir(), "cleaned-up")
	polite, stubborn := uniqueSleep(), uniqueSleep()
	c := login(t, h, l)
	for _, cmd := range []string{
		"setsid bash -c " + shellQuote("trap 'touch "+cleaned+"; exit' TERM; sleep "+polite+" & wait") + " </dev/null >/dev/null 2>&1 &",
		"setsid bash -c " + shellQuote("trap '' TERM; sleep "+stubborn) + " </dev/null >/dev/null 2>&1 &",
	} {
		if out, ok := testhost.Exec(t, c, cmd); !ok {
			t.Fatalf("%s: %s", cmd, out)
		}
	}
	for _, s := range []string{polite, stubborn} {
		for i := 0; len(sleepers(t, s)) == 0; i++ {
			if i == 500 {
				t.Fatalf("sleep %s never started", s)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	c.Close()
	d := newProvider(t, dir)
	local.WithTermGrace(d, 300*time.Millisecond) // the stubborn one waits it out
	if _, err := d.Destroy(ctx, l.req.Identity); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{polite, stubborn} {
		if left := sleepers(t, s); len(left) > 0 {
			t.Errorf("sleep %s still running after Destroy: %v", s, left)
		}
	}
	if _, err := os.Stat(cleaned); err != nil {
		t.Errorf("the process that cleans up on SIGTERM was killed without one: %v", err)
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
