package aws

import (
	"testing"
	"time"
)

// TestRefreshMargin pins how early the credentials cache replaces
// credentials: a tenth of their life, at most a minute, never negative.
func TestRefreshMargin(t *testing.T) {
	for _, c := range []struct{ life, want time.Duration }{
		{time.Hour, time.Minute},
		{15 * time.Minute, time.Minute},
		{5 * time.Minute, 30 * time.Second},
		{3 * time.Second, 300 * time.Millisecond},
		{0, 0},
		{-time.Second, 0},
	} {
		if got := refreshMargin(c.life); got != c.want {
			t.Errorf("refreshMargin(%v) = %v, want %v", c.life, got, c.want)
		}
	}
}
