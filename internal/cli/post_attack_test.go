package cli_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/internal/verify"
)

// The users of these tests, machine-wide names no other test uses:
// postAttackUser owns what is planted in --out, standing for another user
// of the machine; postAttackSuiteUser is the suite user up creates, whose
// removal shows the post step tore the host down.
const (
	postAttackUser      = "mvr-postatk"
	postAttackSuiteUser = "mvr-postatk-u"
)

// postAttacker creates postAttackUser, removed after the test.
func postAttacker(t *testing.T) (uid, gid int) {
	t.Helper()
	return throwawayUser(t, postAttackUser)
}

// upStep runs, as GitHub's runner would, an up step (mode up, the local
// provider, --out out, reporting to gh) and returns its post step, for the
// test to run once it has tampered with --out: the post step's output,
// exit status and job summary. A post step the test does not run (it
// failed first) runs at its cleanup: it tears the host down from STATE_*
// whatever --out holds.
func upStep(t *testing.T, gh *fakegh.Server, suite, out string) (post func() (string, int, string)) {
	t.Helper()
	tmp := t.TempDir()
	stateFile := emptyFile(t, "state")
	upEnv := cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), emptyFile(t, "summary"), emptyFile(t, "outputs")),
		"INPUT_GITHUB-TOKEN="+ghToken, "INPUT_GITHUB-API-URL="+gh.URL(),
		"INPUT_OUT="+out, "GITHUB_STATE="+stateFile, "INPUT_MODE=up", "INPUT_PROVIDER=local",
		"INPUT_SUITE="+suite, "INPUT_LOCAL-STATE-DIR="+filepath.Join(tmp, "state"))...)
	up := runBin(t, upEnv)
	ran := false
	post = func() (string, int, string) {
		t.Helper()
		ran = true
		postEnv, postFiles := runnerPostEnv(t, upEnv, parseFileCommands(t, stateFile))
		cmd := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
		cmd.Env = postEnv
		pout, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			code = ee.ExitCode()
		case err != nil:
			t.Fatalf("post: %v\n%s", err, pout)
		}
		return string(pout), code, readFile(t, postFiles["GITHUB_STEP_SUMMARY"])
	}
	t.Cleanup(func() {
		if !ran {
			post()
		}
	})
	if up.code != 0 {
		t.Fatalf("up exit %d\nstdout:\n%s\nstderr:\n%s", up.code, up.stdout, up.stderr)
	}
	for _, name := range []string{"host/host.json", "host/id_ed25519", "host/known_hosts", "result.json", "summary.md"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Fatalf("up left no %s in %s: %v", name, out, err)
		}
	}
	return post
}

// treeState is every path under dir (not following symlinks) with its
// mode, owner and content (a symlink's target), to tell that the post step
// removed, wrote and rewrote nothing there.
func treeState(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v uid %d", path, fi.Mode(), owner(t, fi))
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			b.WriteString(" -> " + target)
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " sha256 %x", sha256.Sum256(data))
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	return b.String()
}

// copyDir copies the regular files of src into a new directory dst, ours,
// 0700.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.Mkdir(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPostTrustsNoStateInAnOutTamperedWithAfterUp: between the up step and
// its post step, --out or the kept host's state in it became something
// another user could have written, or a symlink that leads out of it. The
// post step still tears the host down — from STATE_*, which it trusts, not
// from --out — and ends the leg on GitHub and in the job summary, but
// touches nothing in --out: it removes no state (nor, through a symlink,
// files outside it), does not rewrite result.json or summary.md, and warns
// that it left the state as it is.
func TestPostTrustsNoStateInAnOutTamperedWithAfterUp(t *testing.T) {
	testhost.RequireRoot(t)
	uid, gid := postAttacker(t)
	suite := writeSuite(t, "user: "+postAttackSuiteUser+"\nsteps:\n  - name: smoke\n    run: \"true\"\n    column: Live cycle\n")
	foreign := "is owned by uid " + strconv.Itoa(uid)
	for _, tc := range []struct {
		name string
		// tamper changes out after up, returning a directory outside out
		// whose files must outlive the post step ("" for none), and what
		// the post step's warning must say.
		tamper func(t *testing.T, tmp, out string) (outside, want string)
	}{
		{"out owned by another user", func(t *testing.T, tmp, out string) (string, string) {
			if err := os.Chown(out, uid, gid); err != nil {
				t.Fatal(err)
			}
			return "", foreign
		}},
		{"host dir a symlink to a directory outside out", func(t *testing.T, tmp, out string) (string, string) {
			// The state itself is the leg's (a copy): only the link is
			// wrong, and following it the post step would act outside out.
			elsewhere := filepath.Join(tmp, "elsewhere")
			copyDir(t, filepath.Join(out, "host"), elsewhere)
			if err := os.WriteFile(filepath.Join(elsewhere, "precious"), []byte("keep me\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(out, "host"), filepath.Join(tmp, "host.up")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(elsewhere, filepath.Join(out, "host")); err != nil {
				t.Fatal(err)
			}
			return elsewhere, filepath.Join(out, "host") + " is a symlink"
		}},
		{"host.json owned by another user", func(t *testing.T, tmp, out string) (string, string) {
			if err := os.Chown(filepath.Join(out, "host", "host.json"), uid, gid); err != nil {
				t.Fatal(err)
			}
			return "", foreign
		}},
		{"host.json a symlink to a file outside out", func(t *testing.T, tmp, out string) (string, string) {
			elsewhere := filepath.Join(tmp, "elsewhere")
			copyDir(t, filepath.Join(out, "host"), elsewhere)
			hostJSON := filepath.Join(out, "host", "host.json")
			if err := os.Remove(hostJSON); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(elsewhere, "host.json"), hostJSON); err != nil {
				t.Fatal(err)
			}
			return elsewhere, hostJSON + " is a symlink"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			freshRunCreatedUser(t, postAttackSuiteUser)
			gh := fakeGitHub(t)
			tmp := t.TempDir()
			out := filepath.Join(tmp, "out")
			post := upStep(t, gh, suite, out)
			if _, err := user.Lookup(postAttackSuiteUser); err != nil {
				t.Fatalf("up did not create the suite user %s: %v", postAttackSuiteUser, err)
			}
			outside, want := tc.tamper(t, tmp, out)
			before := treeState(t, out)
			var outsideBefore string
			if outside != "" {
				outsideBefore = treeState(t, outside)
			}

			pout, code, summary := post()
			if code != 0 {
				t.Fatalf("post exit %d, want 0: the teardown from STATE_* is clean\n%s", code, pout)
			}
			// Torn down by the state the up step saved.
			if _, err := user.Lookup(postAttackSuiteUser); err == nil {
				t.Errorf("suite user %s still exists after the post step: the host was not torn down\n%s", postAttackSuiteUser, pout)
			}
			if !strings.Contains(summary, "leak check: nothing tagged with this run is left") {
				t.Errorf("post's job summary lost the teardown:\n%s", summary)
			}
			// Warned that the state was left, and why.
			const left = "is left as it is"
			if !strings.Contains(pout, "::warning") || !strings.Contains(pout, left) || !strings.Contains(pout, want) {
				t.Errorf("post did not warn %q with %q:\n%s", left, want, pout)
			}
			// Nothing in --out, nor where its symlinks lead, removed or
			// rewritten.
			if after := treeState(t, out); after != before {
				t.Errorf("the post step changed --out:\nbefore:\n%s\nafter:\n%s\n%s", before, after, pout)
			}
			if outside != "" {
				if after := treeState(t, outside); after != outsideBefore {
					t.Errorf("the post step changed %s, outside --out:\nbefore:\n%s\nafter:\n%s", outside, outsideBefore, after)
				}
			}
			if res := readResult(t, out); res.Ended != nil || res.Outcome != verify.Up {
				t.Errorf("result.json: outcome %q, ended %+v; want up's, not ended", res.Outcome, res.Ended)
			}
			// The leg still ends: on GitHub and in the job summary.
			const note = "host kept by up, torn down at the job's end; the suite was not run"
			if st, desc := lastLocalStatus(gh, thisHostLane().key("local")); st != "error" || !strings.Contains(desc, note) {
				t.Errorf("status after the post step %q %q, want error with %q\n%s", st, desc, note, pout)
			}
			if rowWith(summary, note) == "" {
				t.Errorf("post's job summary has no final row with %q:\n%s", note, summary)
			}
		})
	}
}
