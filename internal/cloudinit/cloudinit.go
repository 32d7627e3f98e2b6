// Package cloudinit renders the #cloud-config user data a verification host
// boots with: the suite's user and key, a clean root login, our own pinned
// host key, packages, /dev/kvm permissions, a self-destruct timer, an optional
// SSH firewall, the bootstrap commands and the ready marker.
//
// The output is deterministic so it can be golden-tested and so two renders of
// the same Config are byte-identical.
package cloudinit

import (
	"bytes"
	"fmt"
	"math"
	"net/netip"
	"path"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"
)

// Config is what the host needs at first boot.
type Config struct {
	// User is the suite's login user; it gets passwordless sudo and bash.
	User string
	// Groups the user joins; nil means sudo and kvm. Missing groups are created.
	Groups []string
	// AuthorizedKeys are the public keys (authorized_keys form) that may log
	// in as User and as root.
	AuthorizedKeys []string
	// HostKeyPrivatePEM is the run's ed25519 host key in OpenSSH PEM form.
	// It is the only private material the user data carries.
	HostKeyPrivatePEM string
	// HostKeyPublic is the same key in authorized_keys form.
	HostKeyPublic string
	// Packages are apt packages installed before runcmd.
	Packages []string
	// WriteFiles are written after users exist and packages are installed.
	WriteFiles []File
	// Bootstrap commands run as root with /bin/sh, in order; the first failing
	// one stops the bootstrap, so the ready marker is never written.
	Bootstrap []string
	// ReadyMarker is the absolute path touched after the bootstrap succeeded.
	ReadyMarker string
	// TTL is how long the host may live: a `shutdown -h` is scheduled for it.
	TTL time.Duration
	// Firewall, when set, restricts tcp/22 with nftables on the host itself,
	// for providers without a firewall API.
	Firewall *Firewall
}

// File is one file written by cloud-init.
type File struct {
	Path        string
	Content     string
	Permissions string // octal, e.g. "0644"; empty means cloud-init's 0644
	Owner       string // "user:group"; empty means root:root
}

// Firewall restricts inbound SSH to one source.
type Firewall struct {
	// SourceCIDR is the only source allowed to reach tcp/22, e.g. "203.0.113.7/32".
	SourceCIDR string
}

const (
	// rootKeysPath is rewritten with only our keys: Ubuntu images leave a
	// forced "Please login as the user ubuntu" command there.
	rootKeysPath = "/root/.ssh/authorized_keys"
	// kvmRulePath makes /dev/kvm root:kvm 0660 on every boot, not just this one.
	kvmRulePath = "/etc/udev/rules.d/65-mvm-verify-kvm.rules"
	kvmRule     = `KERNEL=="kvm", GROUP="kvm", MODE="0660"` + "\n"
	// nftTable is the nftables table holding the SSH rule.
	nftTable = "mvm_verify"
)

var (
	namePattern    = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	packagePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+~:-]+)?$`)
	modePattern    = regexp.MustCompile(`^0?[0-7]{3}$`)
)

// Render validates c and returns the #cloud-config document.
func Render(c Config) ([]byte, error) {
	if err := validate(c); err != nil {
		return nil, err
	}
	doc := build(c)

	var buf bytes.Buffer
	buf.WriteString("#cloud-config\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode cloud-config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode cloud-config: %w", err)
	}
	return buf.Bytes(), nil
}

// document is the cloud-config; field order is output order.
type document struct {
	Users          []any     `yaml:"users"` // "default" or user
	DisableRoot    bool      `yaml:"disable_root"`
	SSHPwauth      bool      `yaml:"ssh_pwauth"`
	SSHDeleteKeys  bool      `yaml:"ssh_deletekeys"`
	SSHGenKeyTypes []string  `yaml:"ssh_genkeytypes"`
	SSHKeys        sshKeys   `yaml:"ssh_keys"`
	Growpart       growpart  `yaml:"growpart"`
	ResizeRootfs   bool      `yaml:"resize_rootfs"`
	PackageUpdate  bool      `yaml:"package_update"`
	Packages       []string  `yaml:"packages,omitempty"`
	WriteFiles     []outFile `yaml:"write_files"`
	Bootcmd        []string  `yaml:"bootcmd,omitempty"`
	Runcmd         []string  `yaml:"runcmd"`
}

type user struct {
	Name              string   `yaml:"name"`
	Groups            []string `yaml:"groups,omitempty"`
	Shell             string   `yaml:"shell"`
	Sudo              string   `yaml:"sudo"`
	LockPasswd        bool     `yaml:"lock_passwd"`
	SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys"`
}

type sshKeys struct {
	Ed25519Private string `yaml:"ed25519_private"`
	Ed25519Public  string `yaml:"ed25519_public"`
}

type growpart struct {
	Mode    string   `yaml:"mode"`
	Devices []string `yaml:"devices"`
}

type outFile struct {
	Path        string `yaml:"path"`
	Content     string `yaml:"content"`
	Owner       string `yaml:"owner,omitempty"`
	Permissions string `yaml:"permissions,omitempty"`
	// Defer writes the file in the final stage, after users exist (so owners
	// resolve) and after the ssh module has finished touching root's keys.
	Defer bool `yaml:"defer"`
}

func build(c Config) document {
	groups := c.Groups
	if groups == nil {
		groups = []string{"sudo", "kvm"}
	}
	keys := make([]string, len(c.AuthorizedKeys))
	for i, k := range c.AuthorizedKeys {
		keys[i] = strings.TrimSpace(k)
	}

	packages := append([]string(nil), c.Packages...)
	if c.Firewall != nil && !hasPackage(packages, "nftables") {
		packages = append(packages, "nftables")
	}

	files := []outFile{
		{Path: rootKeysPath, Content: strings.Join(keys, "\n") + "\n", Owner: "root:root", Permissions: "0600", Defer: true},
		{Path: kvmRulePath, Content: kvmRule, Owner: "root:root", Permissions: "0644", Defer: true},
	}
	for _, f := range c.WriteFiles {
		files = append(files, outFile{Path: f.Path, Content: f.Content, Owner: f.Owner, Permissions: normalizeMode(f.Permissions), Defer: true})
	}

	// A suite that runs as root needs no user of its own: root gets the
	// clean authorized_keys file like every suite.
	doc := document{
		Users: []any{user{
			Name:              c.User,
			Groups:            groups,
			Shell:             "/bin/bash",
			Sudo:              "ALL=(ALL) NOPASSWD:ALL",
			LockPasswd:        true,
			SSHAuthorizedKeys: keys,
		}},
		// false: cloud-init then writes metadata keys for root without the
		// forced "login as ubuntu" command, and our deferred file replaces them.
		DisableRoot:   false,
		SSHPwauth:     false,
		SSHDeleteKeys: true,
		// cloud-init generates nothing when ssh_keys is given; this list only
		// matters to a cloud-init that ignored ssh_keys, and then the host
		// presents a key we do not pin and the run fails closed. An empty list
		// would say the same but is rejected by cloud-init 22.4's schema.
		SSHGenKeyTypes: []string{"ed25519"},
		SSHKeys: sshKeys{
			Ed25519Private: strings.TrimSpace(c.HostKeyPrivatePEM) + "\n",
			Ed25519Public:  strings.TrimSpace(c.HostKeyPublic),
		},
		Growpart:     growpart{Mode: "auto", Devices: []string{"/"}},
		ResizeRootfs: true,
		// Refreshing the apt lists only pays off when something is installed.
		PackageUpdate: len(packages) > 0,
		Packages:      packages,
		WriteFiles:    files,
		Runcmd:        runcmd(c),
	}
	if c.User == "root" {
		doc.Users = []any{"default"}
	}
	if c.Firewall != nil {
		// bootcmd runs before sshd starts, so the port is never open to the
		// world; images without nft get the rule from runcmd after packages.
		doc.Bootcmd = []string{"if command -v nft >/dev/null 2>&1; then\n" + nftScript(c.Firewall.SourceCIDR) + "fi"}
	}
	return doc
}

// runcmd builds the final-stage script. cloud-init joins the entries into one
// /bin/sh script, so `set -e` makes the first failing command end it before
// the ready marker is touched, and the script's status reaches cloud-init.
func runcmd(c Config) []string {
	cmds := []string{
		"set -e",
		// First, so even a failed bootstrap destroys the host.
		fmt.Sprintf("shutdown -h +%d \"mvm-verify TTL expired\"", ttlMinutes(c.TTL)),
		"getent group kvm >/dev/null || groupadd --system kvm",
		"if [ -e /dev/kvm ]; then chown root:kvm /dev/kvm && chmod 0660 /dev/kvm; fi",
	}
	if c.Firewall != nil {
		cmds = append(cmds, nftScript(c.Firewall.SourceCIDR))
	}
	cmds = append(cmds, c.Bootstrap...)
	cmds = append(cmds, fmt.Sprintf("mkdir -p %s && touch %s", shellQuote(path.Dir(c.ReadyMarker)), shellQuote(c.ReadyMarker)))
	return cmds
}

// nftScript loads a table that drops tcp/22 from anywhere but cidr. The other
// address family is dropped entirely for tcp/22.
func nftScript(cidr string) string {
	p := netip.MustParsePrefix(cidr).Masked()
	match, other := "ip saddr", "ipv6"
	if p.Addr().Is6() {
		match, other = "ip6 saddr", "ipv4"
	}
	return "nft -f - <<'EOF'\n" +
		"table inet " + nftTable + "\n" +
		"delete table inet " + nftTable + "\n" +
		"table inet " + nftTable + " {\n" +
		"  chain ssh_in {\n" +
		"    type filter hook input priority -10; policy accept;\n" +
		"    tcp dport 22 " + match + " != " + p.String() + " drop\n" +
		"    meta nfproto " + other + " tcp dport 22 drop\n" +
		"  }\n" +
		"}\n" +
		"EOF\n"
}

func ttlMinutes(d time.Duration) int {
	return int(math.Ceil(d.Minutes()))
}

func validate(c Config) error {
	if !namePattern.MatchString(c.User) {
		return fmt.Errorf("cloudinit: User %q: want a login name matching %s", c.User, namePattern)
	}
	for _, g := range c.Groups {
		if !namePattern.MatchString(g) {
			return fmt.Errorf("cloudinit: Groups entry %q: want a group name matching %s", g, namePattern)
		}
	}
	if len(c.AuthorizedKeys) == 0 {
		return fmt.Errorf("cloudinit: AuthorizedKeys is empty: want at least one public key in authorized_keys form")
	}
	for i, k := range c.AuthorizedKeys {
		if err := checkPublicKey(k); err != nil {
			return fmt.Errorf("cloudinit: AuthorizedKeys[%d]: %w", i, err)
		}
	}
	if err := checkHostKey(c.HostKeyPrivatePEM, c.HostKeyPublic); err != nil {
		return err
	}
	for _, p := range c.Packages {
		if !packagePattern.MatchString(p) {
			return fmt.Errorf("cloudinit: Packages entry %q: want an apt package name, optionally =version", p)
		}
	}
	for i, f := range c.WriteFiles {
		if err := checkFile(f); err != nil {
			return fmt.Errorf("cloudinit: WriteFiles[%d]: %w", i, err)
		}
	}
	for i, b := range c.Bootstrap {
		if strings.TrimSpace(b) == "" {
			return fmt.Errorf("cloudinit: Bootstrap[%d] is empty: want a shell command", i)
		}
	}
	if err := checkAbsPath(c.ReadyMarker); err != nil {
		return fmt.Errorf("cloudinit: ReadyMarker: %w", err)
	}
	if c.ReadyMarker == "/" {
		return fmt.Errorf("cloudinit: ReadyMarker %q: want a file path, not the root directory", c.ReadyMarker)
	}
	if c.TTL <= 0 {
		return fmt.Errorf("cloudinit: TTL %s: want a positive duration", c.TTL)
	}
	if c.Firewall != nil {
		p, err := netip.ParsePrefix(c.Firewall.SourceCIDR)
		if err != nil {
			return fmt.Errorf("cloudinit: Firewall.SourceCIDR %q: want a CIDR such as 203.0.113.7/32", c.Firewall.SourceCIDR)
		}
		if p.Bits() == 0 {
			return fmt.Errorf("cloudinit: Firewall.SourceCIDR %q: want a specific source, not every address", c.Firewall.SourceCIDR)
		}
	}
	return nil
}

// checkPublicKey accepts exactly one authorized_keys line without options, so
// nothing smuggles a forced command or a private key into the file.
func checkPublicKey(k string) error {
	k = strings.TrimSpace(k)
	if strings.Contains(k, "PRIVATE KEY") {
		return fmt.Errorf("looks like a private key: want a public key in authorized_keys form (ssh-ed25519 AAAA...)")
	}
	if strings.ContainsAny(k, "\r\n") {
		return fmt.Errorf("spans several lines: want one public key in authorized_keys form")
	}
	_, _, opts, rest, err := ssh.ParseAuthorizedKey([]byte(k))
	if err != nil {
		return fmt.Errorf("not a public key: want authorized_keys form (ssh-ed25519 AAAA...)")
	}
	if len(opts) > 0 || len(rest) > 0 {
		return fmt.Errorf("has options or extra data: want a bare key type, key and optional comment")
	}
	return nil
}

// checkHostKey parses the host key pair and checks the halves match, so a
// mixed-up pair fails here rather than as a host key mismatch at SSH time.
// Errors never quote the private key.
func checkHostKey(privPEM, pubLine string) error {
	if strings.TrimSpace(privPEM) == "" {
		return fmt.Errorf("cloudinit: HostKeyPrivatePEM is empty: want an ed25519 key in OpenSSH PEM form")
	}
	if !strings.HasPrefix(strings.TrimSpace(privPEM), "-----BEGIN OPENSSH PRIVATE KEY-----") {
		return fmt.Errorf("cloudinit: HostKeyPrivatePEM: want an ed25519 key in OpenSSH PEM form (-----BEGIN OPENSSH PRIVATE KEY-----)")
	}
	signer, err := ssh.ParsePrivateKey([]byte(privPEM))
	if err != nil {
		return fmt.Errorf("cloudinit: HostKeyPrivatePEM: cannot parse as an unencrypted OpenSSH private key")
	}
	if t := signer.PublicKey().Type(); t != ssh.KeyAlgoED25519 {
		return fmt.Errorf("cloudinit: HostKeyPrivatePEM: key type %s: want %s", t, ssh.KeyAlgoED25519)
	}
	if err := checkPublicKey(pubLine); err != nil {
		return fmt.Errorf("cloudinit: HostKeyPublic: %w", err)
	}
	pub, _, _, _, _ := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(pubLine)))
	if !bytes.Equal(pub.Marshal(), signer.PublicKey().Marshal()) {
		return fmt.Errorf("cloudinit: HostKeyPublic %q: does not match HostKeyPrivatePEM", strings.TrimSpace(pubLine))
	}
	return nil
}

func checkFile(f File) error {
	if err := checkAbsPath(f.Path); err != nil {
		return fmt.Errorf("Path: %w", err)
	}
	if f.Path == rootKeysPath || f.Path == kvmRulePath {
		return fmt.Errorf("Path %q: written by cloudinit itself", f.Path)
	}
	if f.Permissions != "" && !modePattern.MatchString(f.Permissions) {
		return fmt.Errorf("Permissions %q: want an octal mode such as 0644", f.Permissions)
	}
	if f.Owner != "" {
		u, g, ok := strings.Cut(f.Owner, ":")
		if !ok || !namePattern.MatchString(u) || !namePattern.MatchString(g) {
			return fmt.Errorf("Owner %q: want user:group", f.Owner)
		}
	}
	return nil
}

func checkAbsPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%q: want an absolute path", p)
	}
	if path.Clean(p) != p || strings.ContainsAny(p, "\x00\n\r") {
		return fmt.Errorf("%q: want a clean absolute path (no .., //, trailing / or control characters)", p)
	}
	return nil
}

// normalizeMode gives cloud-init the leading zero it needs to read the mode as octal.
func normalizeMode(m string) string {
	if len(m) == 3 {
		return "0" + m
	}
	return m
}

// shellQuote returns s as one POSIX shell word, always in single quotes.
// It is not remote.Quote because cloudinit renders user data from plain
// values and imports nothing of ours (remote would bring SSH with it);
// quoting every word, safe or not, is as correct for the shell cloud-init
// runs runcmd with and keeps the rendered user data uniform.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func hasPackage(list []string, s string) bool {
	for _, v := range list {
		if v == s || strings.HasPrefix(v, s+"=") {
			return true
		}
	}
	return false
}
