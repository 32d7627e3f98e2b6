package local_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/local"
)

// The registry entry has a Check, so config refuses a bad local-state-dir
// at load with every other bad input; it refuses what New refuses, as an
// *providers.InputError, and accepts what New accepts, leaving nothing.
func TestCheckRefusesAsNewDoes(t *testing.T) {
	e := local.Entry()
	if e.Check == nil {
		t.Fatal("local.Entry has no Check: a bad local-state-dir is refused only once New runs, after load")
	}
	tmp := t.TempDir()
	file := filepath.Join(tmp, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(tmp, "x", "state")
	for _, tc := range []struct {
		dir, want string
	}{
		{"relative/dir", `input "local-state-dir": got "relative/dir", expected an absolute path`},
		{"/proc/nope", `input "local-state-dir": got "/proc/nope", expected an absolute path`},
		{filepath.Join(file, "state"), `input "local-state-dir": got "` + filepath.Join(file, "state") + `"`},
		{fresh, ""},
	} {
		o := providers.Options{Input: func(n string) string {
			if n == "local-state-dir" {
				return tc.dir
			}
			return ""
		}}
		err := e.Check(o)
		_, newErr := local.New(o)
		var in, newIn *providers.InputError
		switch {
		case tc.want == "" && (err != nil || newErr != nil):
			t.Errorf("%s: Check %v, New %v; want both to accept it", tc.dir, err, newErr)
		case tc.want != "" && (err == nil || !errors.As(err, &in) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: Check %v, want an *InputError containing %q", tc.dir, err, tc.want)
		case tc.want != "" && (!errors.As(newErr, &newIn) || newIn.Input != in.Input || newIn.Value != in.Value || newIn.Expected != in.Expected):
			// The causes may differ in a scratch directory's random name.
			t.Errorf("%s: Check %v, New %v; want the same refusal", tc.dir, err, newErr)
		}
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 1 {
		t.Errorf("Check or New left %v in %s, want only the file", entries, tmp)
	}
}
