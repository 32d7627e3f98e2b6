package providertest

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// procBound is how long a run of the binary may take in a test: Wait and
// RunPostCleanly give up after it, so a hung binary fails the test instead
// of stalling it until go test's own timeout.
const procBound = 4 * time.Minute

// RunnerGrace is how long GitHub's runner lets a cancelled step run
// before it kills it: SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after
// that — 10 s from the first signal. WaitGrace gives a signalled run this
// long, counted from Terminate, then kills it as the runner would. The
// run's own cancel budget (7 s in Actions) sits inside it; with a fake
// whose polls are injected fast a teardown takes well under a second, so
// the runner's whole grace is margin enough for a loaded machine.
const RunnerGrace = 10 * time.Second

// Proc is a running binary whose output the test watches.
type Proc struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
	// watched are Start's watch lines; seen holds, for those not printed
	// yet, a channel closed when one is.
	watched map[string]chan struct{}
	seen    map[string]chan struct{}
	done    chan struct{}
	code    int
	stderr  bytes.Buffer
	// termOnce sends Terminate's one SIGTERM; termAt is when it went,
	// and term is closed then.
	termOnce sync.Once
	termAt   time.Time
	term     chan struct{}
}

// Start runs bin with exactly env and args. Each line in watch can be
// waited for with WaitFor. The process is killed if it is still running
// when t ends.
func Start(t *testing.T, bin string, env []string, args []string, watch ...string) *Proc {
	t.Helper()
	p := &Proc{cmd: exec.Command(bin, args...), watched: map[string]chan struct{}{}, seen: map[string]chan struct{}{}, done: make(chan struct{}),
		term: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stderr = &p.stderr
	for _, w := range watch {
		if _, dup := p.watched[w]; !dup {
			p.watched[w] = make(chan struct{})
			p.seen[w] = p.watched[w]
		}
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			for w, ch := range p.seen {
				if strings.Contains(line, w) {
					close(ch)
					delete(p.seen, w)
				}
			}
			p.mu.Unlock()
		}
		io.Copy(io.Discard, stdout) //nolint:errcheck
		err := p.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill() //nolint:errcheck
			<-p.done
		}
	})
	return p
}

// Process is the running process, to signal it.
func (p *Proc) Process() *os.Process { return p.cmd.Process }

// WaitFor waits until a line containing line (one of Start's watch) has
// been printed; it fails t if the process ends first, and at once if line
// is not one Start was told to watch (it could never be seen).
func (p *Proc) WaitFor(t *testing.T, line string) {
	t.Helper()
	p.mu.Lock()
	ch, ok := p.watched[line]
	p.mu.Unlock()
	if !ok {
		t.Fatalf("WaitFor(%q): not one of the lines Start was told to watch", line)
	}
	select {
	case <-ch:
	case <-p.done:
		// The line and the exit may both have come since the select
		// began, and select picks among ready cases at random. The reader
		// closes a line's channel before it closes done, so this check
		// sees a line printed before the exit.
		select {
		case <-ch:
			return
		default:
		}
		t.Fatalf("exited (%d) before printing %q\n%s\nstderr:\n%s", p.code, line, p.Output(), p.Stderr())
	case <-time.After(3 * time.Minute):
		t.Fatalf("no %q after 3 minutes\n%s", line, p.Output())
	}
}

// Wait waits for the process to end and returns its exit status.
func (p *Proc) Wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(procBound):
		t.Fatalf("still running after %s\n%s", procBound, p.Output())
	}
	return p.code
}

// Terminate sends SIGTERM, as the runner does to a cancelled step, and
// notes when: WaitGrace counts the runner's grace from it. Only the first
// call signals; it is safe from any goroutine (a fake's handler).
func (p *Proc) Terminate() {
	p.termOnce.Do(func() {
		p.mu.Lock()
		p.termAt = time.Now()
		p.mu.Unlock()
		p.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited
		close(p.term)
	})
}

// Terminated says whether Terminate has been called.
func (p *Proc) Terminated() bool {
	select {
	case <-p.term:
		return true
	default:
		return false
	}
}

// WaitGrace waits for the process to be sent Terminate (by the test or a
// fake's handler) and then to end, as GitHub's runner does: if it still
// runs RunnerGrace after the signal it is killed with SIGKILL, and killed
// is true — whatever it had not deleted by then is left for the post
// step; the exit status is then SIGKILL's. A process that ends before it
// was sent Terminate is returned as it ended: the caller checks
// Terminated.
func (p *Proc) WaitGrace(t *testing.T) (code int, killed bool) {
	t.Helper()
	select {
	case <-p.term:
	case <-p.done:
		// The signal may have gone just before the exit.
		if !p.Terminated() {
			return p.code, false
		}
	case <-time.After(procBound):
		t.Fatalf("neither signalled nor ended after %s\n%s", procBound, p.Output())
	}
	p.mu.Lock()
	at := p.termAt
	p.mu.Unlock()
	grace := time.NewTimer(time.Until(at.Add(RunnerGrace)))
	defer grace.Stop()
	select {
	case <-p.done:
		// For a reader of -v output: how much of the grace it used.
		t.Logf("ended (%d) %s after SIGTERM", p.code, time.Since(at).Round(10*time.Millisecond))
		return p.code, false
	case <-grace.C:
	}
	// It may have ended just as the grace ran out: that is not a kill.
	select {
	case <-p.done:
		return p.code, false
	default:
	}
	p.cmd.Process.Kill() //nolint:errcheck // it may end meanwhile
	<-p.done
	return p.code, true
}

// Output is what the process printed to stdout so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Stderr is what the process printed to stderr; complete once it ended.
func (p *Proc) Stderr() string {
	select {
	case <-p.done:
		return p.stderr.String()
	default:
		return "(still running)"
	}
}
