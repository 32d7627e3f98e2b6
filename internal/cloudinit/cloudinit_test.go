package cloudinit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// keyPair is an ed25519 key in the two forms Config takes.
type keyPair struct {
	privPEM string
	pub     string // authorized_keys form, no newline
}

// newKey derives a key from seed (the public half is stable, so golden files
// can hold it); the PEM's check bytes are random, so the golden test replaces
// the PEM with a placeholder.
func newKey(t *testing.T, seed byte) keyPair {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{
		privPEM: string(pem.EncodeToMemory(blk)),
		pub:     strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))),
	}
}

// privateLine is a line of the PEM body that only this key has.
func privateLine(privPEM string) string {
	return strings.Split(privPEM, "\n")[4]
}

func minimalConfig(t *testing.T) Config {
	host := newKey(t, 1)
	client := newKey(t, 2)
	return Config{
		User:              "mvm",
		AuthorizedKeys:    []string{client.pub},
		HostKeyPrivatePEM: host.privPEM,
		HostKeyPublic:     host.pub,
		ReadyMarker:       "/var/lib/mvm-verify/ready",
		TTL:               90 * time.Minute,
	}
}

func fullConfig(t *testing.T) Config {
	c := minimalConfig(t)
	c.Groups = []string{"sudo", "kvm", "docker"}
	c.Packages = []string{"build-essential", "pkg-config", "libssl-dev", "git", "jq=1.6-2.1ubuntu3"}
	c.WriteFiles = []File{
		{Path: "/home/mvm/desired.json", Content: "{\"schema_version\": 1}\n", Permissions: "0640", Owner: "mvm:mvm"},
		{Path: "/etc/mvm/coordinator.toml", Content: "[autoscale]\nenabled = true\n", Permissions: "644"},
	}
	c.Bootstrap = []string{
		"sudo -iu mvm bash -lc 'curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal'",
		"cd /opt\ngit clone https://example.invalid/mvm.git\ncd mvm && git checkout 0123abc",
	}
	c.TTL = 89*time.Minute + time.Second // rounds up to 90
	c.Firewall = &Firewall{SourceCIDR: "203.0.113.7/32"}
	return c
}

// withPlaceholder swaps the host key's PEM for a fixed placeholder so the rest
// of the document can be compared byte for byte. It fails unless the PEM is
// there exactly once, indented as the literal block under ssh_keys.
func withPlaceholder(t *testing.T, out []byte, privPEM string) []byte {
	t.Helper()
	var block strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(privPEM), "\n") {
		block.WriteString("    " + line + "\n")
	}
	if n := strings.Count(string(out), block.String()); n != 1 {
		t.Fatalf("host key PEM appears %d times in the output, want 1:\n%s", n, out)
	}
	return []byte(strings.Replace(string(out), block.String(), "    <host key PEM>\n", 1))
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*testing.T) Config
	}{
		{"minimal", minimalConfig},
		{"full", fullConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg(t)
			out, err := Render(c)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Render(c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, again) {
				t.Fatal("two renders of the same Config differ")
			}
			got := withPlaceholder(t, out, c.HostKeyPrivatePEM)
			golden := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run with -update if the change is intended):\n%s", golden, got)
			}
		})
	}
}

// parsed is the subset of the document the structural tests read back.
type parsed struct {
	Users []struct {
		Name              string   `yaml:"name"`
		Groups            []string `yaml:"groups"`
		Shell             string   `yaml:"shell"`
		Sudo              string   `yaml:"sudo"`
		SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys"`
	} `yaml:"users"`
	DisableRoot    *bool             `yaml:"disable_root"`
	SSHDeleteKeys  bool              `yaml:"ssh_deletekeys"`
	SSHGenKeyTypes []string          `yaml:"ssh_genkeytypes"`
	SSHKeys        map[string]string `yaml:"ssh_keys"`
	Growpart       struct {
		Mode string `yaml:"mode"`
	} `yaml:"growpart"`
	ResizeRootfs  bool     `yaml:"resize_rootfs"`
	PackageUpdate bool     `yaml:"package_update"`
	Packages      []string `yaml:"packages"`
	WriteFiles    []struct {
		Path        string `yaml:"path"`
		Content     string `yaml:"content"`
		Owner       string `yaml:"owner"`
		Permissions string `yaml:"permissions"`
		Defer       bool   `yaml:"defer"`
	} `yaml:"write_files"`
	Bootcmd []string `yaml:"bootcmd"`
	Runcmd  []string `yaml:"runcmd"`
}

func parse(t *testing.T, out []byte) parsed {
	t.Helper()
	if !bytes.HasPrefix(out, []byte("#cloud-config\n")) {
		t.Fatalf("output does not start with #cloud-config:\n%s", out)
	}
	var p parsed
	if err := yaml.Unmarshal(out, &p); err != nil {
		t.Fatalf("output is not YAML: %v", err)
	}
	return p
}

func TestRenderContent(t *testing.T) {
	c := fullConfig(t)
	out, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, out)

	if len(p.Users) != 1 {
		t.Fatalf("users = %d, want 1", len(p.Users))
	}
	u := p.Users[0]
	if u.Name != "mvm" || u.Shell != "/bin/bash" || u.Sudo != "ALL=(ALL) NOPASSWD:ALL" {
		t.Errorf("user = %+v, want mvm with bash and passwordless sudo", u)
	}
	if strings.Join(u.Groups, ",") != "sudo,kvm,docker" {
		t.Errorf("groups = %v", u.Groups)
	}
	if len(u.SSHAuthorizedKeys) != 1 || u.SSHAuthorizedKeys[0] != c.AuthorizedKeys[0] {
		t.Errorf("user keys = %v, want %v", u.SSHAuthorizedKeys, c.AuthorizedKeys)
	}

	if p.DisableRoot == nil || *p.DisableRoot {
		t.Error("disable_root must be present and false")
	}
	if !p.SSHDeleteKeys {
		t.Error("ssh_deletekeys must be true")
	}
	if strings.Join(p.SSHGenKeyTypes, ",") != "ed25519" {
		t.Errorf("ssh_genkeytypes = %v, want [ed25519]", p.SSHGenKeyTypes)
	}
	if len(p.SSHKeys) != 2 || strings.TrimSpace(p.SSHKeys["ed25519_private"]) != strings.TrimSpace(c.HostKeyPrivatePEM) || p.SSHKeys["ed25519_public"] != c.HostKeyPublic {
		t.Errorf("ssh_keys holds %d entries or the wrong key; want exactly our ed25519 pair", len(p.SSHKeys))
	}
	if p.Growpart.Mode != "auto" || !p.ResizeRootfs {
		t.Error("growpart and resize_rootfs must be on")
	}
	if !p.PackageUpdate || strings.Join(p.Packages, " ") != "build-essential pkg-config libssl-dev git jq=1.6-2.1ubuntu3 nftables" {
		t.Errorf("package_update=%v packages=%v", p.PackageUpdate, p.Packages)
	}

	files := map[string]int{}
	for i, f := range p.WriteFiles {
		files[f.Path] = i
		if !f.Defer {
			t.Errorf("%s is not deferred: its owner may not exist yet and the ssh module may rewrite it", f.Path)
		}
	}
	root, ok := files["/root/.ssh/authorized_keys"]
	if !ok {
		t.Fatal("no clean /root/.ssh/authorized_keys in write_files")
	}
	rf := p.WriteFiles[root]
	if rf.Content != c.AuthorizedKeys[0]+"\n" || rf.Permissions != "0600" || rf.Owner != "root:root" {
		t.Errorf("root authorized_keys = %+v, want only our key, 0600, root:root", rf)
	}
	udev, ok := files["/etc/udev/rules.d/65-mvm-verify-kvm.rules"]
	if !ok || !strings.Contains(p.WriteFiles[udev].Content, `GROUP="kvm", MODE="0660"`) {
		t.Error("no udev rule making /dev/kvm root:kvm 0660")
	}
	if f := p.WriteFiles[files["/etc/mvm/coordinator.toml"]]; f.Permissions != "0644" {
		t.Errorf("mode 644 rendered as %q, want 0644 so cloud-init reads octal", f.Permissions)
	}

	rc := p.Runcmd
	if len(rc) < 2 || rc[0] != "set -e" {
		t.Fatalf("runcmd must start with set -e: %q", rc)
	}
	if !strings.HasPrefix(rc[1], "shutdown -h +90 ") {
		t.Errorf("first command = %q, want the TTL shutdown (+90, rounded up)", rc[1])
	}
	if last := rc[len(rc)-1]; last != "mkdir -p '/var/lib/mvm-verify' && touch '/var/lib/mvm-verify/ready'" {
		t.Errorf("last command = %q, want the ready marker", last)
	}
	boot := rc[len(rc)-1-len(c.Bootstrap) : len(rc)-1]
	for i, b := range c.Bootstrap {
		if boot[i] != b {
			t.Errorf("bootstrap[%d] = %q, want %q right before the marker, in order", i, boot[i], b)
		}
	}
	kvm := strings.Join(rc[2:len(rc)-1-len(c.Bootstrap)], "\n")
	if !strings.Contains(kvm, "chown root:kvm /dev/kvm && chmod 0660 /dev/kvm") {
		t.Errorf("runcmd does not fix /dev/kvm before the bootstrap:\n%s", kvm)
	}
	if !strings.Contains(kvm, "203.0.113.7/32") || len(p.Bootcmd) != 1 || !strings.Contains(p.Bootcmd[0], "203.0.113.7/32") {
		t.Error("firewall rule missing from bootcmd or runcmd")
	}
}

// A root suite creates no user of its own (cloud-init keeps the image's
// default user) and root still gets the clean key file.
func TestRenderRootSuite(t *testing.T) {
	c := minimalConfig(t)
	c.User = "root"
	doc, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "users:\n    - default\n") && !strings.Contains(string(doc), "users:\n  - default\n") {
		t.Errorf("a root suite should keep only the default user:\n%s", doc)
	}
	if strings.Contains(string(doc), "name: root") {
		t.Errorf("a root suite must not declare root as a new user:\n%s", doc)
	}
	if !strings.Contains(string(doc), "/root/.ssh/authorized_keys") {
		t.Errorf("root lost its clean authorized_keys file:\n%s", doc)
	}
}

func TestRenderWithoutFirewallHasNoNft(t *testing.T) {
	out, err := Render(minimalConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, out)
	if strings.Contains(string(out), "nft") || p.Bootcmd != nil {
		t.Errorf("no Firewall asked, but nftables appears:\n%s", out)
	}
	if p.PackageUpdate || p.Packages != nil {
		t.Errorf("no packages asked, but package_update=%v packages=%v", p.PackageUpdate, p.Packages)
	}
	if strings.Join(p.Users[0].Groups, ",") != "sudo,kvm" {
		t.Errorf("default groups = %v, want sudo,kvm", p.Users[0].Groups)
	}
}

// TestNoClientPrivateMaterial renders with a client key pair at hand and
// checks the only private key in the document is the host key, where
// ssh_keys wants it.
func TestNoClientPrivateMaterial(t *testing.T) {
	_, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(clientPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	clientPEM := string(pem.EncodeToMemory(blk))
	clientPub, err := ssh.NewPublicKey(clientPriv.Public())
	if err != nil {
		t.Fatal(err)
	}

	c := fullConfig(t)
	c.AuthorizedKeys = []string{string(ssh.MarshalAuthorizedKey(clientPub))}
	out, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)

	// OpenSSH PEMs share their first line (format header); the lines the host
	// key does not also have are the client's own.
	var own []string
	for _, line := range strings.Split(strings.TrimSpace(clientPEM), "\n") {
		if !strings.Contains(c.HostKeyPrivatePEM, line) {
			own = append(own, line)
		}
	}
	if len(own) < 3 {
		t.Fatalf("only %d client-specific PEM lines; the check would prove little", len(own))
	}
	for _, line := range own {
		if strings.Contains(text, line) {
			t.Fatalf("client private key material %q... appears in the user data", line[:8])
		}
	}
	if n := strings.Count(text, "PRIVATE KEY"); n != 2 {
		t.Fatalf("%d PRIVATE KEY markers, want 2 (the host key's BEGIN and END)", n)
	}

	var root yaml.Node
	if err := yaml.Unmarshal(out, &root); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], path+"/"+n.Content[i].Value)
			}
		case yaml.ScalarNode:
			if strings.Contains(n.Value, "PRIVATE KEY") && path != "/ssh_keys/ed25519_private" {
				t.Errorf("private key material at %s", path)
			}
		default:
			for _, c := range n.Content {
				walk(c, path)
			}
		}
	}
	walk(&root, "")
}

func TestValidation(t *testing.T) {
	other := newKey(t, 9)
	tests := []struct {
		name    string
		mutate  func(*Config)
		field   string // the error must name it
		secrets []string
	}{
		{"empty user", func(c *Config) { c.User = "" }, "User", nil},
		{"user with space", func(c *Config) { c.User = "mvm user" }, "User", nil},
		{"user upper case", func(c *Config) { c.User = "Mvm" }, "User", nil},
		{"bad group", func(c *Config) { c.Groups = []string{"sudo", "k;vm"} }, "Groups", nil},
		{"no keys", func(c *Config) { c.AuthorizedKeys = nil }, "AuthorizedKeys", nil},
		{"garbage key", func(c *Config) { c.AuthorizedKeys = []string{"hello"} }, "AuthorizedKeys[0]", nil},
		{"key with forced command", func(c *Config) {
			c.AuthorizedKeys = []string{`command="echo no" ` + c.AuthorizedKeys[0]}
		}, "AuthorizedKeys[0]", nil},
		{"two keys on one entry", func(c *Config) {
			c.AuthorizedKeys = []string{c.AuthorizedKeys[0] + "\n" + other.pub}
		}, "AuthorizedKeys[0]", nil},
		{"private key as authorized key", func(c *Config) { c.AuthorizedKeys = []string{other.privPEM} }, "AuthorizedKeys[0]", []string{privateLine(other.privPEM)}},
		{"no host key", func(c *Config) { c.HostKeyPrivatePEM = "" }, "HostKeyPrivatePEM", nil},
		{"host key not PEM", func(c *Config) { c.HostKeyPrivatePEM = "secretsecretsecret" }, "HostKeyPrivatePEM", []string{"secretsecretsecret"}},
		{"host key corrupt", func(c *Config) {
			c.HostKeyPrivatePEM = strings.Replace(c.HostKeyPrivatePEM, "b3Blbn", "AAAAAA", 1)
		}, "HostKeyPrivatePEM", nil},
		{"host public mismatch", func(c *Config) { c.HostKeyPublic = other.pub }, "HostKeyPublic", nil},
		{"host public garbage", func(c *Config) { c.HostKeyPublic = "ssh-ed25519 nope" }, "HostKeyPublic", nil},
		{"package with shell", func(c *Config) { c.Packages = []string{"git; rm -rf /"} }, "Packages", nil},
		{"relative file", func(c *Config) { c.WriteFiles = []File{{Path: "etc/x"}} }, "WriteFiles[0]: Path", nil},
		{"unclean file", func(c *Config) { c.WriteFiles = []File{{Path: "/etc/../x"}} }, "WriteFiles[0]: Path", nil},
		{"file overrides root keys", func(c *Config) { c.WriteFiles = []File{{Path: "/root/.ssh/authorized_keys"}} }, "WriteFiles[0]: Path", nil},
		// A suite file must not silently replace the rule that keeps /dev/kvm usable.
		{"file overrides KVM rule", func(c *Config) {
			c.WriteFiles = []File{{Path: "/etc/x"}, {Path: kvmRulePath}}
		}, "WriteFiles[1]: Path", nil},
		{"bad mode", func(c *Config) { c.WriteFiles = []File{{Path: "/etc/x", Permissions: "rw"}} }, "WriteFiles[0]: Permissions", nil},
		{"bad owner", func(c *Config) { c.WriteFiles = []File{{Path: "/etc/x", Owner: "mvm"}} }, "WriteFiles[0]: Owner", nil},
		{"empty bootstrap", func(c *Config) { c.Bootstrap = []string{"echo", "  "} }, "Bootstrap[1]", nil},
		{"relative marker", func(c *Config) { c.ReadyMarker = "ready" }, "ReadyMarker", nil},
		{"no marker", func(c *Config) { c.ReadyMarker = "" }, "ReadyMarker", nil},
		{"marker is root", func(c *Config) { c.ReadyMarker = "/" }, "ReadyMarker", nil},
		{"zero TTL", func(c *Config) { c.TTL = 0 }, "TTL", nil},
		{"negative TTL", func(c *Config) { c.TTL = -time.Minute }, "TTL", nil},
		{"bad CIDR", func(c *Config) { c.Firewall = &Firewall{SourceCIDR: "203.0.113.7"} }, "Firewall.SourceCIDR", nil},
		{"open CIDR", func(c *Config) { c.Firewall = &Firewall{SourceCIDR: "0.0.0.0/0"} }, "Firewall.SourceCIDR", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := minimalConfig(t)
			hostSecret := privateLine(c.HostKeyPrivatePEM)
			tt.mutate(&c)
			out, err := Render(c)
			if err == nil {
				t.Fatalf("Render accepted it:\n%s", out)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name %s", err, tt.field)
			}
			for _, s := range append(tt.secrets, hostSecret) {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error quotes private key material: %q", err)
				}
			}
		})
	}

	if _, err := Render(minimalConfig(t)); err != nil {
		t.Fatalf("the valid base config is refused: %v", err)
	}
}

// TestCloudInitSchema feeds every rendered variant to the real cloud-init.
// `cloud-init schema` exits 0 and says the file is valid ("Valid cloud-config"
// in 22.4, Debian 12's; "Valid schema" from 23.x on), and exits 1 with
// "Cloud config schema errors" otherwise.
func TestCloudInitSchema(t *testing.T) {
	variants := map[string]func(*testing.T) Config{
		"minimal": minimalConfig,
		"full":    fullConfig,
		"ipv6 firewall": func(t *testing.T) Config {
			c := fullConfig(t)
			c.Firewall = &Firewall{SourceCIDR: "2001:db8::7/128"}
			return c
		},
		"root suite": func(t *testing.T) Config {
			c := fullConfig(t)
			c.User = "root"
			return c
		},
		"no groups, one-minute ttl": func(t *testing.T) Config {
			c := minimalConfig(t)
			c.Groups = []string{}
			c.TTL = time.Second
			return c
		},
	}
	for name, cfg := range variants {
		t.Run(name, func(t *testing.T) {
			doc, err := Render(cfg(t))
			if err != nil {
				t.Fatal(err)
			}
			if out, err := schema(t, doc); err != nil {
				t.Errorf("cloud-init schema rejects the rendered user data (%v):\n%s\n--- document ---\n%s", err, out, doc)
			}
		})
	}
	// The checker must be able to say no, or the loop above proves nothing.
	t.Run("checker rejects a broken document", func(t *testing.T) {
		doc, err := Render(minimalConfig(t))
		if err != nil {
			t.Fatal(err)
		}
		broken := bytes.Replace(doc, []byte("ssh_genkeytypes:\n  - ed25519\n"), []byte("ssh_genkeytypes: []\n"), 1)
		if bytes.Equal(broken, doc) {
			t.Fatal("could not break the document")
		}
		if out, err := schema(t, broken); err == nil {
			t.Errorf("cloud-init schema accepted an invalid document:\n%s", out)
		}
	})
}

// TestFirewallRuleLoads runs the rendered nftables script twice (as cloud-init
// would on a reboot) in a network namespace of its own and reads the rules back.
func TestFirewallRuleLoads(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatal("nft is not installed (Debian package nftables; .ci/run installs it)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare is not installed (Debian package util-linux; .ci/run installs it)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root to create a network namespace; CI runs as root")
	}
	tests := []struct{ cidr, wantRule, wantOther string }{
		{"203.0.113.7/32", "tcp dport 22 ip saddr != 203.0.113.7 drop", "meta nfproto ipv6 tcp dport 22 drop"},
		{"198.51.100.77/24", "tcp dport 22 ip saddr != 198.51.100.0/24 drop", "meta nfproto ipv6 tcp dport 22 drop"},
		{"2001:db8::7/128", "tcp dport 22 ip6 saddr != 2001:db8::7 drop", "meta nfproto ipv4 tcp dport 22 drop"},
	}
	for _, tt := range tests {
		t.Run(tt.cidr, func(t *testing.T) {
			c := minimalConfig(t)
			c.Firewall = &Firewall{SourceCIDR: tt.cidr}
			doc, err := Render(c)
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, doc)
			var script string
			for _, cmd := range p.Runcmd {
				if strings.HasPrefix(cmd, "nft ") {
					script = cmd
				}
			}
			if script == "" {
				t.Fatalf("no nft command in runcmd: %q", p.Runcmd)
			}
			out, err := exec.Command("unshare", "--net", "sh", "-ec", script+script+"nft list ruleset").CombinedOutput()
			if err != nil {
				t.Fatalf("nft refused the rendered rules: %v\n%s", err, out)
			}
			ruleset := string(out)
			if strings.Count(ruleset, "table inet mvm_verify") != 1 || strings.Count(ruleset, tt.wantRule) != 1 || strings.Count(ruleset, tt.wantOther) != 1 {
				t.Errorf("after loading twice, want one table with %q and %q, got:\n%s", tt.wantRule, tt.wantOther, ruleset)
			}
		})
	}
}

// schema runs `cloud-init schema` on doc and returns its output; the error
// is its exit status, or a complaint when it exits 0 without saying the file
// is valid (so a checker that ignored the file could not pass the tests).
// The built-in suite's test (package cloudinit_test) uses it too, through
// Schema.
func schema(t *testing.T, doc []byte) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("cloud-init")
	if err != nil {
		t.Fatal("cloud-init is not installed (Debian package cloud-init; .ci/run installs it)")
	}
	f := filepath.Join(t.TempDir(), "user-data.yaml")
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "schema", "--config-file", f).CombinedOutput()
	if err == nil && !saysValid.Match(out) {
		err = errors.New("cloud-init schema exited 0 without saying the file is valid")
	}
	return string(out), err
}

// saysValid matches the verdict line of every cloud-init release the tests
// meet: Debian 12's 22.4 and the 23.x+ of Ubuntu runners.
var saysValid = regexp.MustCompile(`(?m)^Valid (cloud-config|schema)\b`)
