// Package proc reads and signals this machine's processes through /proc:
// a process's identity across pid reuse (pid and start time), whether it
// still runs, its descendants, and stopping a process tree or a uid's
// processes. It imports nothing of the module but waits, so the providers,
// the test hosts and the faces can all use it.
package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/waits"
)

// poll is how often Terminate checks whether processes are gone. Only how
// long Terminate takes depends on it.
const poll = 20 * time.Millisecond

// Pids returns the ids of the processes /proc lists, zombies included.
func Pids() ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out, nil
}

// Terminate stops the process with the given pid (a process group leader)
// and everything it started: SIGTERM to the group and every descendant,
// then SIGKILL to whatever is left after grace. exited, when not nil, is
// closed once the caller has reaped pid (it is the caller's child);
// otherwise pid counts as gone when /proc has no live process for it. A
// process already gone is not an error.
func Terminate(ctx context.Context, pid int, grace time.Duration, exited <-chan struct{}) error {
	if pid <= 0 {
		return fmt.Errorf("terminate process: invalid pid %d", pid)
	}
	signalAll(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if gone(pid, exited) && len(Descendants(pid)) == 0 {
			break
		}
		if err := waits.Sleep(ctx, poll); err != nil {
			break
		}
	}
	// Sessions call setsid, so the group alone would miss them; collect
	// descendants again, since new ones may have started since SIGTERM.
	signalAll(pid, syscall.SIGKILL)
	for {
		if gone(pid, exited) {
			return nil
		}
		if err := waits.Sleep(ctx, poll); err != nil {
			return fmt.Errorf("wait for process %d to exit: %w", pid, err)
		}
	}
}

func signalAll(pid int, sig syscall.Signal) {
	desc := Descendants(pid)
	syscall.Kill(-pid, sig)
	syscall.Kill(pid, sig)
	for _, d := range desc {
		syscall.Kill(d, sig)
	}
	if sig == syscall.SIGTERM {
		// A stopped process only acts on SIGTERM once continued.
		syscall.Kill(-pid, syscall.SIGCONT)
		for _, d := range desc {
			syscall.Kill(d, syscall.SIGCONT)
		}
	}
}

func gone(pid int, exited <-chan struct{}) bool {
	if exited != nil {
		select {
		case <-exited:
			return true
		default:
			return false
		}
	}
	return !Alive(pid)
}

// stat is the part of /proc/PID/stat we use.
type stat struct {
	state     byte
	ppid      int
	startTime uint64 // clock ticks after boot
}

// live reports whether the process has neither exited nor been reaped.
func (st stat) live() bool { return st.state != 'Z' && st.state != 'X' }

func readStat(pid int) (stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return stat{}, errors.New("malformed stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return stat{}, errors.New("malformed stat")
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return stat{}, err
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return stat{}, err
	}
	return stat{state: f[0][0], ppid: ppid, startTime: start}, nil
}

// Alive reports whether pid is a running (not zombie) process.
func Alive(pid int) bool {
	st, err := readStat(pid)
	return err == nil && st.live()
}

// Started reports whether pid is still the live process that had
// startTime; a pid reused since started later.
func Started(pid int, startTime uint64) bool {
	st, err := readStat(pid)
	return err == nil && st.live() && st.startTime == startTime
}

// Running reports whether pid is still the process that had startTime and
// runs the command comm (as /proc/PID/comm names it): alive, started then,
// and running that program. Another process, pid namespace or boot may
// have reused the pid since.
func Running(pid int, startTime uint64, comm string) bool {
	return Started(pid, startTime) && Comm(pid) == comm
}

// Comm returns the command name of pid ("" when it is gone).
func Comm(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// StartTime returns pid's start time in clock ticks after boot, which with
// the pid identifies a process across pid reuse.
func StartTime(pid int) (uint64, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, fmt.Errorf("read process %d: %w", pid, err)
	}
	return st.startTime, nil
}

// Descendants returns the live descendants of pid, found through /proc.
func Descendants(pid int) []int {
	pids, err := Pids()
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, p := range pids {
		st, err := readStat(p)
		if err != nil || st.state == 'Z' {
			continue
		}
		children[st.ppid] = append(children[st.ppid], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// KillUID SIGKILLs every live process whose real or effective uid is uid
// and returns how many it signalled. A process forked meanwhile escapes
// one call: callers that must leave none call it until it returns 0.
// It refuses root (uid 0), negative uids and this process's own effective
// uid: a uid looked up wrongly would otherwise kill the machine's daemons or
// the caller itself.
func KillUID(uid int) (int, error) {
	if uid <= 0 || uid == os.Geteuid() {
		return 0, fmt.Errorf("kill the processes of uid %d: refused; want the uid of an account other than root and this process (%d)", uid, os.Geteuid())
	}
	pids, err := Pids()
	if err != nil {
		return 0, err
	}
	want := strconv.Itoa(uid)
	n := 0
	for _, pid := range pids {
		if !Alive(pid) {
			continue
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			// "Uid:	real	effective	saved	fs"
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "Uid:" && (f[1] == want || f[2] == want) {
				syscall.Kill(pid, syscall.SIGKILL)
				n++
			}
		}
	}
	return n, nil
}
