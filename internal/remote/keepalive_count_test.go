package remote

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The keepalive gives up after exactly KeepaliveMaxMissed unanswered
// intervals, not one more, and says how many: read from the error, so no
// clock is asserted. The host is frozen (sshd stopped), so no reply ever
// comes and every interval after the freeze is missed.
func TestKeepaliveGivesUpAtMaxMissed(t *testing.T) {
	f := newFixture(t)
	o := fast()
	o.Keepalive, o.KeepaliveMaxMissed = 100*time.Millisecond, 3
	c := f.dial(t, o)
	freezeServer(t, c)
	select {
	case <-c.dead:
	case <-time.After(guard):
		t.Fatal("the keepalive did not close the connection to a frozen host")
	}
	want := fmt.Sprintf("no reply in %s (%d intervals of %s)", 3*o.Keepalive, 3, o.Keepalive)
	if err := c.Err(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Err() = %v, want it to say %q", err, want)
	}
}
