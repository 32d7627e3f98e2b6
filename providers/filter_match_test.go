package providers

import (
	"strconv"
	"testing"
	"time"
)

// TestFilterMatch pins the checks that keep teardown and listing to this
// project's own resources: without the mvm-verify=1 marker nothing matches,
// however well the other tags fit (providers/local/destroy.go and the AWS
// adapter rely on it), and ExpiredBefore keeps only what has expired (the
// planned janitor relies on that; nothing in the tree sets it yet).
func TestFilterMatch(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	expires := func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
	tests := []struct {
		name string
		f    Filter
		tags map[string]string
		want bool
	}{
		{"empty filter, no tags", Filter{}, map[string]string{}, false},
		{"empty filter, nil tags", Filter{}, nil, false},
		{"empty filter, marker", Filter{}, map[string]string{TagMarker: "1"}, true},
		{"empty filter, marker not 1", Filter{}, map[string]string{TagMarker: "0"}, false},
		{"run matches, no marker", Filter{Run: "r-1"}, map[string]string{TagRun: "r-1"}, false},
		{"run matches, marker", Filter{Run: "r-1"}, map[string]string{TagMarker: "1", TagRun: "r-1"}, true},
		{"run differs", Filter{Run: "r-1"}, map[string]string{TagMarker: "1", TagRun: "r-2"}, false},
		{"key and leg, no marker", Filter{Run: "r-1", Key: "k", Leg: "l"},
			map[string]string{TagRun: "r-1", TagKey: "k", TagLeg: "l"}, false},
		{"key and leg, marker", Filter{Run: "r-1", Key: "k", Leg: "l"},
			map[string]string{TagMarker: "1", TagRun: "r-1", TagKey: "k", TagLeg: "l"}, true},
		{"expired", Filter{ExpiredBefore: now},
			map[string]string{TagMarker: "1", TagExpiresAt: expires(now.Add(-time.Minute))}, true},
		{"not yet expired", Filter{ExpiredBefore: now},
			map[string]string{TagMarker: "1", TagExpiresAt: expires(now.Add(time.Minute))}, false},
		{"expires exactly now", Filter{ExpiredBefore: now},
			map[string]string{TagMarker: "1", TagExpiresAt: expires(now)}, false},
		{"expiry unreadable", Filter{ExpiredBefore: now},
			map[string]string{TagMarker: "1", TagExpiresAt: "soon"}, false},
		{"expiry missing", Filter{ExpiredBefore: now}, map[string]string{TagMarker: "1"}, false},
		{"expired but no marker", Filter{ExpiredBefore: now},
			map[string]string{TagExpiresAt: expires(now.Add(-time.Minute))}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Match(tt.tags); got != tt.want {
				t.Errorf("%+v.Match(%v) = %v, want %v", tt.f, tt.tags, got, tt.want)
			}
		})
	}
}
