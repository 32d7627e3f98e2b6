package cli_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// TestPostTrustsNoPlantedDownReported: down leaves a down-reported file in
// --out so that the up step's post step does not end the leg again over
// down's note. One another user could have planted would silence the post
// step: the leg's commit status would stay pending "host up" for a host
// that is gone. Planted in an --out another user owns, or in ours but
// owned by another user, it is not believed: the post step ends the leg.
func TestPostTrustsNoPlantedDownReported(t *testing.T) {
	testhost.RequireRoot(t)
	uid, gid := postAttacker(t)
	suite := writeSuite(t, "user: "+freshCLISuiteUser(t)+"\nsteps:\n  - name: smoke\n    run: \"true\"\n    column: Live cycle\n")
	for _, tc := range []struct {
		name       string
		foreignOut bool
	}{
		{"in an out another user owns", true},
		{"owned by another user in our out", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gh := fakeGitHub(t)
			out := filepath.Join(t.TempDir(), "out")
			post := upStep(t, gh, suite, out)
			marker := filepath.Join(out, "down-reported")
			plant(t, marker, false, 0o644, uid, gid)
			if err := os.WriteFile(marker, []byte(readResult(t, out).Identity.Name()+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.foreignOut {
				if err := os.Chown(out, uid, gid); err != nil {
					t.Fatal(err)
				}
			}

			pout, code, summary := post()
			if code != 0 {
				t.Fatalf("post exit %d, want 0\n%s", code, pout)
			}
			if strings.Contains(pout, "already ended by down") {
				t.Errorf("the post step believed the planted %s:\n%s", marker, pout)
			}
			const note = "host kept by up, torn down at the job's end; the suite was not run"
			if st, desc := lastLocalStatus(gh, thisHostLane().key("local")); st != "error" || !strings.Contains(desc, note) {
				t.Errorf("status after the post step %q %q, want error with %q (the planted marker silenced it)\n%s", st, desc, note, pout)
			}
			if rowWith(summary, note) == "" {
				t.Errorf("post's job summary has no final row with %q:\n%s", note, summary)
			}
			_, err := os.Stat(filepath.Join(out, "host"))
			switch {
			case tc.foreignOut && err != nil:
				t.Errorf("the post step removed the state from an --out another user owns (stat: %v)", err)
			case !tc.foreignOut && !errors.Is(err, fs.ErrNotExist):
				t.Errorf("the post step kept the state in our own --out after a clean teardown (stat: %v)\n%s", err, pout)
			}
		})
	}
}
