package sshd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/proc"
)

// A server's private directory holds its host private key. Stop removes
// it, but a process killed before Stop (a test binary that timed out, a
// run killed by SIGKILL) cannot, so every Start first sweeps up the
// directories nobody uses any more. The directory's name carries the pid
// and start time of the process that made it, as the test host registry's
// records do, which tells its owner from a later process reusing the pid.

// dirPrefix starts every private directory's name, in os.TempDir().
const dirPrefix = "mvm-sshd-"

// staleUnowned is how old a directory named without an owner (written by
// an older build) must be before a sweep removes it, when no process names
// it: its owner may still be about to start sshd.
const staleUnowned = 10 * time.Minute

// dirPattern is the MkdirTemp pattern for a directory owned by this process.
func dirPattern() (string, error) {
	start, err := proc.StartTime(os.Getpid())
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%d-%d-", dirPrefix, os.Getpid(), start), nil
}

// DirName names a private directory in parent for Config.Dir, as Start
// would name one: owned by this process, so sweeps leave it alone while
// the process lives, and with a random tail no other server's has.
func DirName(parent string) (string, error) {
	pattern, err := dirPattern()
	if err != nil {
		return "", fmt.Errorf("name sshd dir: %w", err)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("name sshd dir: %w", err)
	}
	return filepath.Join(parent, pattern+hex.EncodeToString(b[:])), nil
}

// dirOwner parses the owner from a private directory's name; ok is false
// for a name without one.
func dirOwner(name string) (pid int, start uint64, ok bool) {
	f := strings.Split(strings.TrimPrefix(name, dirPrefix), "-")
	if len(f) != 3 {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	return pid, start, err1 == nil && err2 == nil && pid > 0
}

// SweepStaleDirs removes the servers' private directories in tmp that no
// live process uses: the process that made the directory is gone and no
// running process names the directory on its command line (sshd does; the
// local provider's sshd outlives the process that started it). It returns
// the directories it removed.
func SweepStaleDirs(tmp string) ([]string, error) {
	dirs, err := filepath.Glob(filepath.Join(tmp, dirPrefix+"*"))
	if err != nil || len(dirs) == 0 {
		return nil, err
	}
	named := commandLines()
	var removed []string
	var errs []error
	for _, d := range dirs {
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() {
			continue
		}
		if pid, start, ok := dirOwner(filepath.Base(d)); ok {
			if proc.Started(pid, start) {
				continue
			}
		} else if time.Since(fi.ModTime()) < staleUnowned {
			continue
		}
		if inUse(named, d) {
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("remove stale sshd dir: %w", err))
			continue
		}
		removed = append(removed, d)
	}
	return removed, errors.Join(errs...)
}

// inUse reports whether a command line names something inside dir.
func inUse(cmdlines []string, dir string) bool {
	for _, c := range cmdlines {
		if strings.Contains(c, dir+"/") {
			return true
		}
	}
	return false
}

// commandLines returns the command lines of the live processes, arguments
// joined by spaces.
func commandLines() []string {
	pids, err := proc.Pids()
	if err != nil {
		return nil
	}
	var out []string
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil || len(b) == 0 {
			continue
		}
		out = append(out, strings.ReplaceAll(string(b), "\x00", " "))
	}
	return out
}
