package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/waits"
)

// startDroppable runs a command that prints "started PID" and then sleeps
// as that pid, and returns its result channel once it has started. The
// sleep outlives a dropped connection, as a step's processes would on a
// real host; the test kills it by its pid.
func startDroppable(t *testing.T, c *Client) <-chan ranResult {
	t.Helper()
	live := newNotifyWriter("started ")
	done := make(chan ranResult, 1)
	go func() {
		res, err := c.Run(testContext(t), RunSpec{Command: "echo started $$; exec sleep 600", Stdout: live})
		done <- ranResult{res, err}
	}()
	select {
	case <-live.seen:
	case r := <-done:
		t.Fatalf("the command ended before it started: %+v, %v", r.res, r.err)
	}
	// The pid follows the marker on its line; wait for the whole line.
	for !strings.Contains(strings.SplitN(live.String(), "started ", 2)[1], "\n") {
		time.Sleep(time.Millisecond)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(live.String(), "started ", 2)[1]))
	if err != nil {
		t.Fatalf("pid of the started command in %q: %v", live.String(), err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return done
}

type ranResult struct {
	res ExecResult
	err error
}

// TestRunOnDroppedConnectionSaysItWasLost kills sshd's processes for the
// connection while a command runs, as a crashed sshd or a network reset
// would end it: the command's error says the connection was lost (not
// "exited without exit status"), Lost reports it, a later command on it
// fails the same way rather than with a bare "open session: EOF", and
// Redial reaches the host again with the same keys, running commands as
// the lost connection did.
func TestRunOnDroppedConnectionSaysItWasLost(t *testing.T) {
	f := newFixture(t)
	c := f.dial(t, fast())
	if ok, err := c.CheckSudo(testContext(t)); err != nil || !ok {
		t.Fatalf("CheckSudo = %v, %v; want the fixture's login user to have passwordless sudo", ok, err)
	}
	if err := c.Lost(); err != nil {
		t.Fatalf("Lost() on a live connection = %v", err)
	}
	done := startDroppable(t, c)
	if _, err := f.host.DropConnections(); err != nil {
		t.Fatal(err)
	}
	r := <-done

	var lost *LostError
	if !errors.Is(r.err, ErrConnectionLost) || !errors.As(r.err, &lost) {
		t.Fatalf("Run on a dropped connection: err = %v, want a *LostError (ErrConnectionLost)", r.err)
	}
	if want := net.JoinHostPort(f.host.Addr(), strconv.Itoa(f.host.Port())); lost.Addr != want {
		t.Errorf("LostError.Addr = %q, want %q", lost.Addr, want)
	}
	if msg := r.err.Error(); !strings.Contains(msg, "SSH connection to "+lost.Addr+" lost") {
		t.Errorf("error %q does not say the connection was lost", msg)
	}
	if n := strings.Count(r.err.Error(), "EOF"); n != 1 {
		t.Errorf("error %q names EOF %d times, want once", r.err, n)
	}
	if !strings.HasPrefix(string(r.res.Output), "started ") {
		t.Errorf("output before the drop lost: %q", r.res.Output)
	}
	if err := c.Lost(); !errors.Is(err, ErrConnectionLost) {
		t.Errorf("Lost() after the drop = %v, want ErrConnectionLost", err)
	}
	if err := c.Err(); err != nil {
		t.Errorf("Err() = %v: the client did not close this connection", err)
	}
	if _, err := c.Run(testContext(t), RunSpec{Command: "true"}); !errors.Is(err, ErrConnectionLost) {
		t.Errorf("Run after the drop: err = %v, want ErrConnectionLost", err)
	} else if n := strings.Count(err.Error(), "EOF"); n != 1 {
		// Opening a session on the ended connection fails with the
		// transport's EOF, which the LostError already says.
		t.Errorf("Run after the drop: error %q names EOF %d times, want once", err, n)
	}

	fresh, err := c.Redial(testContext(t))
	if err != nil {
		t.Fatalf("Redial: %v", err)
	}
	defer fresh.Close()
	if fresh == c {
		t.Fatal("Redial returned the lost client")
	}
	if again, err := c.Redial(testContext(t)); again != fresh || err != nil {
		t.Errorf("second Redial = %p, %v; want the first one's client %p", again, err, fresh)
	}
	if err := fresh.Lost(); err != nil {
		t.Errorf("Lost() on the redialed connection = %v", err)
	}
	if !fresh.sudoLogin.Load() {
		t.Error("the redialed client forgot that the login user may sudo")
	}
	res := run(t, fresh, RunSpec{Command: "id -un", AsUser: f.other})
	if got := strings.TrimSpace(string(res.Output)); !res.OK() || got != f.other {
		t.Errorf("command as %s over the redialed connection: %+v (%q)", f.other, res, got)
	}
}

// TestLostIsNilAfterClose: a connection the client closed itself was not
// lost.
func TestLostIsNilAfterClose(t *testing.T) {
	f := newFixture(t)
	c := f.dial(t, fast())
	c.Close()
	<-c.dead
	if err := c.Lost(); err != nil {
		t.Errorf("Lost() after Close = %v, want nil", err)
	}
	if _, err := c.Run(testContext(t), RunSpec{Command: "true"}); err == nil || errors.Is(err, ErrConnectionLost) {
		t.Errorf("Run after Close: err = %v, want an error that is not ErrConnectionLost", err)
	}
}

// TestRedialFailureNamesTheLostConnection: when the host is gone for good
// (its sshd stopped after the drop), Redial's error says both that the
// connection was lost and that reconnecting failed, and, once RedialLimit
// has passed with the caller's ctx still live, a second call returns it
// without dialing again.
func TestRedialFailureNamesTheLostConnection(t *testing.T) {
	f := newFixture(t)
	attempts := 0
	o := fast()
	// Short enough that the refused attempts end soon; nothing depends
	// on how long they take.
	o.RedialLimit = 100 * time.Millisecond
	o.Sleep = func(ctx context.Context, d time.Duration) error {
		attempts++
		return waits.Sleep(ctx, d)
	}
	c := f.dial(t, o)
	done := startDroppable(t, c)
	if _, err := f.host.DropConnections(); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := f.host.Stop(testContext(t)); err != nil {
		t.Fatalf("stop the host: %v", err)
	}

	fresh, err := c.Redial(testContext(t))
	if fresh != nil || !errors.Is(err, ErrConnectionLost) || !strings.Contains(fmt.Sprint(err), "reconnecting failed") {
		t.Fatalf("Redial to a stopped host = %v, %v; want an error naming the lost connection and the failed reconnect", fresh, err)
	}
	if !strings.Contains(err.Error(), "SSH connection to "+f.host.Addr()) {
		t.Errorf("Redial error %q does not name the host", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "reconnect limit") {
		t.Errorf("Redial error %q does not say the reconnect limit passed", err)
	}
	before := attempts
	if _, again := c.Redial(testContext(t)); again != err || attempts != before {
		t.Errorf("second Redial = %v after %d more attempts; want the first error, without dialing", again, attempts-before)
	}
}
