package local

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/proc"
	"github.com/tinylabscom/mvm-verify/internal/waits"
)

// A leg's processes must all be gone after Destroy, whoever they run as:
// a suite step may leave a daemon behind (setsid, nohup, a double fork),
// which leaves sshd's process tree and, as root, cannot be told from the
// machine's own processes by its user. Two ways find them from a fresh
// process: the leg's sshd starts in a cgroup v2 of its own, which every
// descendant inherits and none can leave without root, and every session
// carries markerVar in its environment, for machines where no cgroup can be
// made (an unprivileged run, a container with a read-only cgroupfs).
const markerVar = "MVM_VERIFY_LOCAL"

// cgroupParent is the directory, under the cgroup v2 mount, that holds the
// legs' cgroups.
const cgroupParent = "mvm-verify-local"

// procPoll is how often Destroy checks that killed processes are gone.
const procPoll = 20 * time.Millisecond

// newMarker returns a fresh value for markerVar.
func newMarker() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make process marker: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted:
// /sys/fs/cgroup on a unified machine, /sys/fs/cgroup/unified on a hybrid one.
func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "36 35 0:30 / /sys/fs/cgroup rw,... shared:9 - cgroup2 cgroup2 rw"
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, fs := strings.Fields(pre), strings.Fields(post)
		if ok && len(fields) >= 5 && len(fs) >= 1 && fs[0] == "cgroup2" {
			return unescapeMount(fields[4]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read mounts: %w", err)
	}
	return "", errors.New("no cgroup2 file system is mounted")
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupPath returns a fresh cgroup directory for the leg's sshd, or why
// there is none to be had.
func (p *Provider) cgroupPath(leg string) (string, error) {
	mount, err := p.cgroupMount()
	if err != nil {
		return "", err
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("name cgroup: %w", err)
	}
	// The suffix keeps a stale cgroup of an earlier attempt from being reused.
	return filepath.Join(mount, cgroupParent, leg+"-"+hex.EncodeToString(b[:])), nil
}

// makeCgroup creates the leg's cgroup and, when missing, its parent.
func makeCgroup(dir string) error {
	parent := filepath.Dir(dir)
	if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create cgroup %s: %w", parent, err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		syscall.Rmdir(parent) // unless another leg's cgroup is in it
		return fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	return nil
}

// killLeg kills every process in the leg's cgroup and every process marked
// with its marker, waits until they are gone and removes the cgroup. found
// reports whether there was anything to kill or remove.
func killLeg(ctx context.Context, cgroup, marker string, grace time.Duration) (found bool, err error) {
	found = termLeg(ctx, cgroup, marker, grace)
	if cgroup != "" {
		f, err := killCgroup(ctx, cgroup)
		if err != nil {
			return f, err
		}
		found = found || f
	}
	if marker != "" {
		f, err := killMarked(ctx, marker)
		if err != nil {
			return found || f, err
		}
		found = found || f
	}
	return found, nil
}

// termLeg asks the leg's processes to end with SIGTERM and waits up to
// grace (less when ctx ends sooner) for them to go, before killLeg's
// SIGKILL. A killed process runs no exit handler: a shell that dies holding
// a lock file (a login shell's startup rehash, a package manager) leaves it
// for every later login to wait on. It says whether there was any.
func termLeg(ctx context.Context, cgroup, marker string, grace time.Duration) bool {
	pids := func() []int {
		var all []int
		if cgroup != "" {
			all, _ = cgroupPids(cgroup)
		}
		if marker != "" {
			all = append(all, markedPids(marker)...)
		}
		return all
	}
	left := pids()
	if len(left) == 0 || grace <= 0 {
		return len(left) > 0
	}
	for _, pid := range left {
		syscall.Kill(pid, syscall.SIGTERM)
		// A stopped process acts on SIGTERM only once continued.
		syscall.Kill(pid, syscall.SIGCONT)
	}
	deadline := time.Now().Add(grace)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for len(left) > 0 && time.Now().Add(procPoll).Before(deadline) {
		if waits.Sleep(ctx, procPoll) != nil {
			break
		}
		left = alive(pids())
	}
	return true
}

// alive drops the pids that have exited but not yet been reaped (zombies
// are listed in a cgroup until their parent waits for them).
func alive(pids []int) []int {
	var out []int
	for _, pid := range pids {
		if proc.Alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// killCgroup SIGKILLs everything in the cgroup, with cgroup.kill where the
// kernel has it (5.14+: atomic, so a forking process cannot slip out) and
// pid by pid otherwise, then removes it.
func killCgroup(ctx context.Context, dir string) (bool, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	useKill := true
	for {
		pids, err := cgroupPids(dir)
		if err != nil {
			return true, err
		}
		if len(pids) == 0 {
			break
		}
		if useKill {
			if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err != nil {
				useKill = false
			}
		}
		if !useKill {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if err := waits.Sleep(ctx, procPoll); err != nil {
			return true, fmt.Errorf("wait for the processes of cgroup %s to exit: %w", dir, err)
		}
	}
	// Exited processes leave the cgroup a moment after cgroup.procs stops
	// listing them; until then rmdir says busy.
	for {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			break
		}
		if !errors.Is(err, syscall.EBUSY) {
			return true, fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		if err := waits.Sleep(ctx, procPoll); err != nil {
			return true, fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
	}
	// The parent goes with the last leg; another leg's cgroup keeps it busy.
	syscall.Rmdir(filepath.Dir(dir))
	return true, nil
}

func cgroupPids(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list processes of cgroup %s: %w", dir, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// killMarked SIGKILLs every process whose environment carries the marker,
// until a scan finds none: one may fork while the scan runs. A killed
// process's environment reads empty, so it is not found twice.
func killMarked(ctx context.Context, marker string) (bool, error) {
	found := false
	for {
		pids := markedPids(marker)
		if len(pids) == 0 {
			return found, nil
		}
		found = true
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if err := waits.Sleep(ctx, procPoll); err != nil {
			return found, fmt.Errorf("wait for the processes marked %s=%s to exit: %w", markerVar, marker, err)
		}
	}
}

// markedPids lists the live processes whose environment holds
// markerVar=marker, never this process.
func markedPids(marker string) []int {
	pids, err := proc.Pids()
	if err != nil {
		return nil
	}
	want := []byte(markerVar + "=" + marker)
	self := os.Getpid()
	var out []int
	for _, pid := range pids {
		if pid == self {
			continue
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(b, []byte{0}) {
			if bytes.Equal(kv, want) {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// legAlive reports whether any of the leg's processes still run.
func legAlive(cgroup, marker string) bool {
	if cgroup != "" {
		if pids, _ := cgroupPids(cgroup); len(pids) > 0 {
			return true
		}
		if _, err := os.Stat(cgroup); err == nil {
			return true
		}
	}
	return marker != "" && len(markedPids(marker)) > 0
}

// sweepCgroups removes the empty leg cgroups that no registered leg names:
// left by legs whose state is gone (a run killed and its state directory
// removed since, or a leg of an older build). Legs are told apart by the
// cgroup's name, which is unique, rather than its path: a test may reach the
// same hierarchy through another mount. rmdir refuses a cgroup that still
// holds processes or cgroups, so a leftover with processes in it stays for
// someone to look at. The caller holds the machine-wide lock, under which
// every leg records its cgroup before making it, and passes every
// registered leg. It returns the cgroups it removed.
func (p *Provider) sweepCgroups(legs map[string]*state) []string {
	if p.store.registry == p.store.dir {
		return nil // not root: other legs are not registered here
	}
	mount, err := p.cgroupMount()
	if err != nil {
		return nil
	}
	parent := filepath.Join(mount, cgroupParent)
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil
	}
	named := map[string]bool{}
	for _, st := range legs {
		for _, c := range st.Changes {
			if c.Kind == kindProcs && c.Cgroup != "" {
				named[filepath.Base(c.Cgroup)] = true
			}
		}
	}
	var removed []string
	for _, e := range entries {
		if !e.IsDir() || named[e.Name()] {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		if err := syscall.Rmdir(dir); err == nil {
			removed = append(removed, dir)
		}
	}
	if len(removed) > 0 {
		p.log.Info("local: removed empty cgroups no leg names", "cgroups", removed)
	}
	syscall.Rmdir(parent) // unless a leg's cgroup is in it
	return removed
}
