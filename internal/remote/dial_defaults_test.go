package remote

import (
	"testing"
	"time"
)

// The README and DESIGN promise a keepalive every 5 s (NAT idle timeouts
// drop quiet connections), and the cycle dials with a zero Keepalive, so
// the promise is the default. Asserted on the configured values, not by
// timing a live connection.
func TestDialOptionsDefaults(t *testing.T) {
	o := DialOptions{}.withDefaults()
	if o.Keepalive != 5*time.Second {
		t.Errorf("default Keepalive = %v, want 5s", o.Keepalive)
	}
	if o.KeepaliveMaxMissed != 3 {
		t.Errorf("default KeepaliveMaxMissed = %d, want 3", o.KeepaliveMaxMissed)
	}
	for name, got := range map[string]time.Duration{
		"InitialBackoff": o.InitialBackoff, "MaxBackoff": o.MaxBackoff, "AttemptTimeout": o.AttemptTimeout,
		"KillGrace": o.KillGrace, "CancelGrace": o.CancelGrace,
	} {
		if got <= 0 {
			t.Errorf("default %s = %v, want a positive duration", name, got)
		}
	}
	if o.HandshakeBudget != 3 || o.Logger == nil {
		t.Errorf("defaults: HandshakeBudget %d, Logger %v; want 3 and a logger", o.HandshakeBudget, o.Logger)
	}

	// What a caller sets is kept: a negative Keepalive disables it.
	set := DialOptions{Keepalive: -1, KeepaliveMaxMissed: 7}.withDefaults()
	if set.Keepalive != -1 || set.KeepaliveMaxMissed != 7 {
		t.Errorf("withDefaults overrode Keepalive %v / KeepaliveMaxMissed %d, want -1 / 7", set.Keepalive, set.KeepaliveMaxMissed)
	}
	set = DialOptions{Keepalive: 30 * time.Second}.withDefaults()
	if set.Keepalive != 30*time.Second {
		t.Errorf("withDefaults overrode Keepalive 30s with %v", set.Keepalive)
	}
}
