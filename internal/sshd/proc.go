package sshd

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

// procPoll is how often Terminate checks whether processes are gone. Only
// how long Terminate takes depends on it.
const procPoll = 20 * time.Millisecond

// Terminate stops the sshd with the given pid (a process group leader) and
// everything it started: SIGTERM to the group and every descendant, then
// SIGKILL to whatever is left after grace. exited, when not nil, is closed
// once the caller has reaped pid (sshd is its child); otherwise pid counts as
// gone when /proc has no live process for it. A process already gone is not
// an error.
func Terminate(ctx context.Context, pid int, grace time.Duration, exited <-chan struct{}) error {
	if pid <= 0 {
		return fmt.Errorf("terminate sshd: invalid pid %d", pid)
	}
	signalAll(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if gone(pid, exited) && len(Descendants(pid)) == 0 {
			break
		}
		if err := waits.Sleep(ctx, procPoll); err != nil {
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
		if err := waits.Sleep(ctx, procPoll); err != nil {
			return fmt.Errorf("wait for sshd %d to exit: %w", pid, err)
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

// procStat is the part of /proc/PID/stat we use.
type procStat struct {
	state     byte
	ppid      int
	startTime uint64 // clock ticks after boot
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, errors.New("malformed stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return procStat{}, errors.New("malformed stat")
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, err
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, err
	}
	return procStat{state: f[0][0], ppid: ppid, startTime: start}, nil
}

// Alive reports whether pid is a running (not zombie) process.
func Alive(pid int) bool {
	st, err := readStat(pid)
	return err == nil && st.state != 'Z' && st.state != 'X'
}

// Started reports whether pid is still the live process that had
// startTime; a pid reused since started later.
func Started(pid int, startTime uint64) bool {
	st, err := readStat(pid)
	return err == nil && st.state != 'Z' && st.state != 'X' && st.startTime == startTime
}

// Running reports whether pid is still the sshd that had startTime: alive,
// started then, and running an sshd binary. Another process, pid namespace
// or boot may have reused the pid since.
func Running(pid int, startTime uint64) bool {
	st, err := readStat(pid)
	if err != nil || st.state == 'Z' || st.state == 'X' || st.startTime != startTime {
		return false
	}
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return err == nil && strings.TrimSpace(string(comm)) == "sshd"
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
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
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
