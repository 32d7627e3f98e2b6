package verify

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

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
	sshprovider "github.com/tinylabscom/mvm-verify/providers/ssh"
)

// An existing host (ssh) whose port refuses every connection is a wrong
// port, not a boot to wait for: the dial gives up after the unreachable
// limit, long before ready-timeout, with the message naming the input.
func TestExistingHostRefusingGivesUpEarly(t *testing.T) {
	testhost.RequireRoot(t)
	keyPEM, _ := testhost.ClientKeyPEM(t)
	hostKey := testhost.Start(t, testhost.Options{}).HostKey()
	port := closedPort(t)
	in := map[string]string{
		"ssh-host": "127.0.0.1", "ssh-port": strconv.Itoa(port), "ssh-user": "root",
		"ssh-private-key": string(keyPEM), "ssh-known-host": hostKey,
	}
	entry := sshprovider.Entry()
	p, err := entry.New(providers.Options{Input: func(name string) string { return in[name] }})
	if err != nil {
		t.Fatal(err)
	}
	plan := testPlan(p, Step{Name: "never", Run: "true", Column: matrix.LiveCycle})
	plan.Info = entry.Info
	plan.HostInputs = HostInputs{Host: "ssh-host", Port: "ssh-port", User: "ssh-user", Key: "ssh-private-key", KnownHost: "ssh-known-host"}
	// Were the limit not applied, ready-timeout would end the wait, and
	// the failure would name it.
	plan.ReadyTimeout = 30 * time.Second
	plan.Timeout = time.Hour
	plan.UnreachableLimit = time.Millisecond
	res := Run(context.Background(), plan)
	t.Logf("first failure: %s", res.FirstFailure)
	if !res.CouldNotStart || res.Outcome != Errored {
		t.Errorf("outcome %s, could not start %v; want errored and could not start", res.Outcome, res.CouldNotStart)
	}
	for _, want := range []string{
		`input "ssh-port": got "` + strconv.Itoa(port) + `", expected the port sshd listens on at 127.0.0.1`,
		"connection refused",
		"refused or not resolved at every attempt",
	} {
		if !strings.Contains(res.FirstFailure, want) {
			t.Errorf("first failure lacks %q", want)
		}
	}
	if strings.Contains(res.FirstFailure, "ready-timeout (") {
		t.Errorf("the wait ended at ready-timeout, not the unreachable limit: %s", res.FirstFailure)
	}
	if res.Phase(PhaseSuite) != nil {
		t.Errorf("the suite ran: %+v", res.Phases)
	}
}

// A host we booted keeps being waited for while it refuses: it may still
// be starting sshd. Only ready-timeout ends that wait.
func TestBootingHostRefusingWaitsForReadyTimeout(t *testing.T) {
	testhost.RequireRoot(t)
	hp := &hostProvider{}
	plan := testPlan(stuckProvider{hostProvider: hp, closedPort: closedPort(t)}, Step{Name: "never", Run: "true"})
	plan.ReadyTimeout = 300 * time.Millisecond
	plan.Timeout = 30 * time.Minute // far off: the ready limit is what ends the leg
	plan.UnreachableLimit = time.Nanosecond
	res := Run(context.Background(), plan)
	if !strings.Contains(res.FirstFailure, "ready-timeout (300ms)") || strings.Contains(res.FirstFailure, "refused or not resolved at every attempt") {
		t.Errorf("first failure %q; want the ready-timeout, not the unreachable limit", res.FirstFailure)
	}
}

func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), true},
		{&net.DNSError{Err: "no such host", Name: "nope.example", IsNotFound: true}, true},
		{&net.DNSError{Err: "server misbehaving", Name: "nope.example", IsTemporary: true}, false},
		{fmt.Errorf("dial: %w", syscall.ETIMEDOUT), false},
		{errors.New("ssh: handshake failed"), false},
	} {
		if got := unreachable(tc.err); got != tc.want {
			t.Errorf("unreachable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
