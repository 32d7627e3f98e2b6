package testhost

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// ExistingUpload writes the file of root's that an upload test has a
// suite upload replace: existing.sh in base, "before\n", mode 0640. It
// returns its path, for CheckUploadsUndone.
func ExistingUpload(t testing.TB, base string) string {
	t.Helper()
	existing := filepath.Join(base, "existing.sh")
	if err := os.WriteFile(existing, []byte("before\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	return existing
}

// CheckUploadsUndone checks that base is as it was before a run's uploads
// into it: the directories made for an upload gone with it, the file
// ExistingUpload wrote back with its content, mode and owner, and no copy
// of it left beside.
func CheckUploadsUndone(t testing.TB, base, existing string) {
	t.Helper()
	entries, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != filepath.Base(existing) {
		t.Errorf("%s holds %v after the teardown, want only %s (the upload's directories and files gone, no copy left beside)", base, names, filepath.Base(existing))
	}
	data, err := os.ReadFile(existing)
	if err != nil || string(data) != "before\n" {
		t.Errorf("%s after the teardown: %q, %v; want its content from before the run", existing, data, err)
	}
	if fi, err := os.Stat(existing); err == nil {
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != 0o640 || st.Uid != 0 {
			t.Errorf("%s after the teardown: mode %v uid %d, want 0640 and root's", existing, fi.Mode().Perm(), st.Uid)
		}
	}
}
