package cli

import (
	"runtime/debug"
	"testing"
)

// A plain `go build` leaves Version at "dev": then the commit the toolchain
// recorded says which build this is.
func TestVersionString(t *testing.T) {
	vcs := func(settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/tinylabscom/mvm-verify", Version: "(devel)"}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	const rev = "9a4c84a9d6fb6d718fc69e387902d586b9276e3c"
	tests := []struct {
		name   string
		linked string
		bi     *debug.BuildInfo
		ok     bool
		want   string
	}{
		{"linker set", "v1.2.3", vcs("vcs.revision", rev), true, "v1.2.3"},
		{"commit", "dev", vcs("vcs", "git", "vcs.revision", rev, "vcs.modified", "false"), true, "dev-9a4c84a9d6fb"},
		{"commit with changes", "dev", vcs("vcs.revision", rev, "vcs.modified", "true"), true, "dev-9a4c84a9d6fb+dirty"},
		{"go install at a version", "dev", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, true, "v1.4.0"},
		{"nothing recorded", "dev", vcs(), true, "dev"},
		{"no build info", "dev", nil, false, "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionString(tt.linked, tt.bi, tt.ok); got != tt.want {
				t.Errorf("versionString(%q, …) = %q, want %q", tt.linked, got, tt.want)
			}
		})
	}
}
