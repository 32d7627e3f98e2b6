package remote

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoProfileSkipsTheLogin: a command with NoProfile runs, as the login
// user or through sudo as another, on a host whose users' login profiles
// fail (here each test user's exits 9), where a login-shell command
// cannot; it runs as the user asked for, with the sbin directories on PATH that a root login
// would have set, and carries the kill marker its sweep looks for.
func TestNoProfileSkipsTheLogin(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{f.login, f.other} {
		u, err := user.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		profile := filepath.Join(u.HomeDir, ".bash_profile")
		if err := os.WriteFile(profile, []byte("exit 9\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(profile) })
	}
	c := f.dial(t, fast())
	ctx := testContext(t)
	if ok, err := c.CheckSudo(ctx); err != nil || !ok {
		t.Fatalf("CheckSudo for %s, who has NOPASSWD sudo, with a failing profile: ok %v, err %v", f.login, ok, err)
	}
	script := `echo "$(id -un) ${` + markerVar + `:+marked} $(command -v userdel || echo no-userdel) ${SUDO_USER:-nosudo}"`
	for _, as := range []string{"", f.login, f.other, "root"} {
		// Root's profile is this machine's own: not run.
		if as != "root" {
			if res := run(t, c, RunSpec{Command: script, AsUser: as}); res.ExitCode != 9 {
				t.Errorf("as %q in a login shell: exit %d (%q), want 9 from the profile: the test's profiles are not read", as, res.ExitCode, res.Output)
			}
		}
		want := as
		if want == "" {
			want = f.login
		}
		res := run(t, c, RunSpec{Command: script, AsUser: as, NoProfile: true})
		// The login user's own commands need no sudo, even with sudo found.
		wantSudo := f.login
		if as == "" || as == f.login {
			wantSudo = "nosudo"
		}
		got := strings.Fields(string(res.Output))
		if res.ExitCode != 0 || len(got) != 4 || got[0] != want || got[1] != "marked" || !strings.HasSuffix(got[2], "/userdel") || got[3] != wantSudo {
			t.Errorf("as %q without the profile: exit %d output %q, want 0 and %q marked …/userdel %s", as, res.ExitCode, res.Output, want, wantSudo)
		}
	}
}
