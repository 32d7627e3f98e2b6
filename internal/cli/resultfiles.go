package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// writeFileAtomic writes data to path whole or not at all: into a
// temporary file beside it, flushed to disk, then renamed over path. A
// full disk (or any other failure) leaves path as it was, never cut short:
// a truncated result.json would read to a later `down` as no result, or as
// a damaged one. The error names path.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
			err = fmt.Errorf("save %s: %w", path, err)
		}
	}()
	_, err = f.Write(data)
	if err == nil {
		// Some filesystems report a full disk only when the data is
		// flushed: before the rename, not after it.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// removeStale removes what is at path, an earlier run's file this run
// could not replace: left, it would be read as this run's.
func removeStale(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the earlier %s this run could not replace: %w", path, err)
	}
	return nil
}

// resultNotSaved says, as an error annotation in Actions and on stderr at a
// terminal, that the leg's result files could not all be written in out.
// The verdict stands: it is printed, and in Actions in the step's outputs
// and job summary, which need no file.
func (a *app) resultNotSaved(out string, err error) {
	where := "as printed"
	if a.inGHA {
		where = "in the step's outputs and job summary"
	}
	a.annotate("error", "mvm-verify: result not saved",
		fmt.Sprintf("the leg's result could not be saved in %s: %v (the verdict stands, %s)", out, err, where))
}
