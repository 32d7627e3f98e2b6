package cloudinit

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Both halves of a written file's Owner are checked: the group is pasted
// into cloud-init's write_files as the user is, and a bad one fails on the
// host, late, instead of at Render.
func TestRenderFileOwner(t *testing.T) {
	tests := []struct {
		owner string
		ok    bool
	}{
		{"mvm:mvm", true},
		{"root:kvm", true},
		{"_svc:sys-adm", true},
		{"user:Bad Group", false},
		{"user:Group", false},
		{"user:g;rm", false},
		{"user:", false},
		{":group", false},
		{"Bad User:group", false},
		{"user", false},
		{"user:group:extra", false},
	}
	for _, tt := range tests {
		t.Run(tt.owner, func(t *testing.T) {
			c := minimalConfig(t)
			c.WriteFiles = []File{{Path: "/etc/x", Content: "x\n", Owner: tt.owner}}
			out, err := Render(c)
			if tt.ok {
				if err != nil {
					t.Fatalf("Owner %q refused: %v", tt.owner, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Owner %q accepted:\n%s", tt.owner, out)
			}
			if want := `WriteFiles[0]: Owner "` + tt.owner + `"`; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		})
	}
}

// The firewall needs nftables; when the suite already asks for it, pinned
// to a version or not, it is not added a second time.
func TestRenderFirewallPackageOnce(t *testing.T) {
	tests := []struct {
		name     string
		packages []string
		want     []string
	}{
		{"not asked for", []string{"git"}, []string{"git", "nftables"}},
		{"asked for", []string{"nftables", "git"}, []string{"nftables", "git"}},
		{"pinned", []string{"nftables=1.0"}, []string{"nftables=1.0"}},
		{"pinned among others", []string{"git", "nftables=1.0.9-1", "jq"}, []string{"git", "nftables=1.0.9-1", "jq"}},
		// A different package whose name starts the same is not it.
		{"nftables-doc only", []string{"nftables-doc"}, []string{"nftables-doc", "nftables"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := minimalConfig(t)
			c.Packages = tt.packages
			c.Firewall = &Firewall{SourceCIDR: "203.0.113.7/32"}
			out, err := Render(c)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Packages []string `yaml:"packages"`
			}
			if err := yaml.Unmarshal(out, &doc); err != nil {
				t.Fatalf("rendered user data is not YAML: %v\n%s", err, out)
			}
			if strings.Join(doc.Packages, " ") != strings.Join(tt.want, " ") {
				t.Errorf("packages = %q, want %q", doc.Packages, tt.want)
			}
		})
	}
}
