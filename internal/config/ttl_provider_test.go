package config

import (
	"maps"
	"testing"
)

// ttl is the lifetime of a host the run boots: local's and ssh's machines
// stay, so the default ttl (3h) is no bound on their timeout-minutes. A
// cloud's host still must outlive the job, default ttl or not.
func TestLoadTTLOnlyBoundsBootedHosts(t *testing.T) {
	ssh := map[string]string{"provider": "ssh", "ssh-host": "192.0.2.1", "ssh-private-key": testKeyPEM(t), "insecure-host-key": "true"}
	local := map[string]string{"provider": "local"}
	aws := map[string]string{"provider": "aws"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := maps.Clone(base)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		in   map[string]string
		want string // "" means accepted
	}{
		{"ssh run", with(ssh, "timeout-minutes", "200"), ""},
		{"ssh up", with(ssh, "mode", "up", "timeout-minutes", "200"), ""},
		{"local run", with(local, "timeout-minutes", "200"), ""},
		{"local up", with(local, "mode", "up", "timeout-minutes", "200"), ""},
		{"ssh given a short ttl", with(ssh, "timeout-minutes", "200", "ttl", "1h"), ""},
		{"aws default ttl", with(aws, "timeout-minutes", "200"), `got "3h", expected a duration longer than timeout-minutes (3h20m0s)`},
		{"aws up default ttl", with(aws, "mode", "up", "timeout-minutes", "200"), `got "3h", expected a duration longer than timeout-minutes (3h20m0s)`},
		{"unknown cloud default ttl", with(map[string]string{"provider": "hetzner"}, "timeout-minutes", "200"),
			`got "3h", expected a duration longer than timeout-minutes (3h20m0s)`},
		{"aws longer ttl", with(aws, "timeout-minutes", "200", "ttl", "4h"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := load(t, tt.in)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("load %v: %v", tt.in, err)
				}
				if r.TimeoutMinutes != 200 {
					t.Errorf("TimeoutMinutes = %d, want 200", r.TimeoutMinutes)
				}
				return
			}
			wantInputError(t, err, "ttl", tt.want)
		})
	}
}
