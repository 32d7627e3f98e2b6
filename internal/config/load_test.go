package config

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/aws"
	sshprovider "github.com/tinylabscom/mvm-verify/providers/ssh"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

// registered is what the CLI passes: the registry's names.
var registered = []string{"local", "ssh", "aws", "hetzner"}

// checks are the registered providers' input checks, as the CLI passes
// them (providers.Registry.Check).
var checks = func() func(string, providers.Options) error {
	var reg providers.Registry
	reg.Register(aws.Entry())
	reg.Register(sshprovider.Entry())
	return reg.Check
}()

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func opts() Options {
	return Options{
		Providers: registered,
		Check:     checks,
		HeadSHA:   sha,
		Getenv: env(map[string]string{
			"GITHUB_TOKEN":      "ghs_token0123456789",
			"GITHUB_SERVER_URL": "https://github.com",
			"GITHUB_REPOSITORY": "tinylabscom/mvm",
		}),
	}
}

func load(t *testing.T, in map[string]string) (*Run, error) {
	t.Helper()
	return LoadWith(MapSource(in), opts())
}

func TestLoadDefaults(t *testing.T) {
	r, err := load(t, map[string]string{"provider": "aws"})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Mode", r.Mode, "run"},
		{"Provider", r.Provider, "aws"},
		{"Lane", r.Lane, "auto"},
		{"Key", r.Key, "aws"},
		{"Out", r.Out, "./mvm-verify-out"},
		{"TimeoutMinutes", r.TimeoutMinutes, 90},
		{"TeardownBudget", r.TeardownBudget, 5 * time.Minute},
		{"ReadyTimeout", r.ReadyTimeout, 30 * time.Minute},
		{"StepTimeout", r.StepTimeout, 60 * time.Minute},
		{"TTL", r.TTL, 3 * time.Hour},
		{"DiskGB", r.DiskGB, 50},
		{"Market", r.Market, "on-demand"},
		{"Candidates", len(r.Candidates), 1},
		{"Candidate", r.Candidates[0], providers.Candidate{Market: "on-demand"}},
		{"SSHSourceCIDR", r.SSHSourceCIDR, ""},
		{"AllowSSHFromAnywhere", r.AllowSSHFromAnywhere, false},
		{"InsecureHostKey", r.InsecureHostKey, false},
		{"MaxCostUSD", r.MaxCostUSD, 0.0},
		{"GitHubToken", r.GitHubToken, "ghs_token0123456789"},
		{"GitHubAPIURL", r.GitHubAPIURL, "https://api.github.com"},
		{"Comment", r.Comment, true},
		{"Repository", r.Repository, "https://github.com/tinylabscom/mvm"},
		{"Ref", r.Ref, sha},
		{"GitHubRepo", r.GitHubRepo, "tinylabscom/mvm"},
		{"HeadSHA", r.HeadSHA, sha},
		{"PullRequest", r.PullRequest, 0},
		{"Deadline", r.Deadline(), 85 * time.Minute},
		{"Inputs[ssh-port]", r.Input("ssh-port"), "22"},
		{"Inputs[key]", r.Input("key"), "aws"},
		{"Inputs[provider]", r.Input("provider"), "aws"},
		{"Warnings", len(r.Warnings), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	for _, in := range Inputs() {
		if _, ok := r.Inputs[in.Name]; ok != (in.Default != "" || in.Name == "provider" || in.Name == "key" ||
			in.Name == "github-token" || in.Name == "github-api-url" ||
			in.Name == "repository" || in.Name == "ref" || in.Name == "github-repository" || in.Name == "head-sha") {
			t.Errorf("Inputs[%s] present = %v; want only the inputs with a value", in.Name, ok)
		}
	}
	if r.Suite == nil || r.Suite.Name != DefaultSuiteName {
		t.Fatalf("suite = %v, want the built-in one", r.Suite)
	}
	if !strings.Contains(strings.Join(r.Suite.Bootstrap, "\n"), `"https://github.com/tinylabscom/mvm" "`+sha+`"`) {
		t.Errorf("bootstrap does not fetch the repository at the ref:\n%s", strings.Join(r.Suite.Bootstrap, "\n"))
	}
	if st := r.Suite.Steps[0]; st.Timeout != 60*time.Minute || st.Env["MVM_REF"] != sha {
		t.Errorf("build step = %+v, want its own 60m timeout and MVM_REF", st)
	}
}

func TestLoadValues(t *testing.T) {
	r, err := load(t, map[string]string{
		"mode": "up", "provider": "hetzner", "lane": "no-kvm", "timeout-minutes": "120", "teardown-budget": "10m",
		"ready-timeout": "1h30m", "step-timeout": "20m", "ttl": "4h", "disk-gb": "80", "max-cost": "$2.50",
		"comment": "FALSE", "market": "spot", "spot-failover": "True", "ssh-source-cidr": "203.0.113.9/24", "suite": "testdata/example-suite.yml",
		"repository": "git@github.com:tinylabscom/mvm.git", "ref": "feature/x",
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != "up" || r.Key != "hetzner-no-kvm" || r.TimeoutMinutes != 120 ||
		r.TeardownBudget != 10*time.Minute || r.ReadyTimeout != 90*time.Minute || r.TTL != 4*time.Hour || r.DiskGB != 80 ||
		r.MaxCostUSD != 2.5 || r.Comment || !r.SpotFailover || r.SSHSourceCIDR != "203.0.113.0/24" || r.Ref != "feature/x" {
		t.Errorf("run = %+v", r)
	}
	if r.Input("ssh-source-cidr") != "203.0.113.0/24" {
		t.Errorf("Inputs[ssh-source-cidr] = %q, want the normalised range", r.Input("ssh-source-cidr"))
	}
	if r.Suite == nil || r.Suite.User != "tester" || r.Suite.Steps[0].Timeout != 20*time.Minute || r.Suite.Steps[1].Timeout != 2*time.Minute {
		t.Errorf("suite = %+v, want the example with step-timeout filled in", r.Suite)
	}
	if ResolveLane(r.Lane, []string{"no-kvm"}) != "no-kvm" || ResolveLane("auto", []string{"no-kvm"}) != "no-kvm" ||
		ResolveLane("auto", []string{"kvm", "no-kvm"}) != "kvm" || ResolveLane("auto", nil) != "kvm" {
		t.Error("ResolveLane")
	}
}

func TestLoadOtherModes(t *testing.T) {
	dir := t.TempDir()
	docs := filepath.Join(dir, "verification.md")
	if err := os.WriteFile(docs, []byte("# matrix\n<!-- mvm-verify:start -->\n<!-- mvm-verify:end -->\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := load(t, map[string]string{"mode": "report", "matrix-file": docs, "expect": "aws, gcp\nhetzner-no-kvm"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Provider != "" || r.Key != "" || r.Suite != nil || r.MatrixFile != docs || strings.Join(r.Expect, " ") != "aws gcp hetzner-no-kvm" {
		t.Errorf("report run = %+v", r)
	}
	// down needs no suite and no ref.
	if r, err = LoadWith(MapSource(map[string]string{"mode": "down", "provider": "aws", "key": "aws-c8i"}), Options{}); err != nil || r.Key != "aws-c8i" || r.Suite != nil {
		t.Errorf("down: %v, %v", r, err)
	}
	// down from the CLI finds its provider in the state of up.
	if r, err = LoadWith(MapSource(map[string]string{"out": dir}), Options{Mode: "down"}); err != nil || r.Mode != "down" || r.Provider != "" {
		t.Errorf("down without provider: %v, %v", r, err)
	}
	// The post step names the provider from its state; the mode from the
	// CLI wins over the input.
	r, err = LoadWith(MapSource(map[string]string{"mode": "run"}), Options{Mode: "down", Provider: "aws", Providers: registered})
	if err != nil || r.Mode != "down" || r.Provider != "aws" || r.Key != "aws" {
		t.Errorf("post: %+v, %v", r, err)
	}
	_, err = LoadWith(MapSource(nil), Options{Mode: "launch"})
	wantInputError(t, err, "mode", `got "launch", expected one of run, up, down, report`)
	_, err = load(t, map[string]string{"mode": "report", "matrix-file": filepath.Join(dir, "nope.md")})
	wantInputError(t, err, "matrix-file", "nope.md")
	// A file without the markers is bad input, found before report writes
	// anything.
	plain := filepath.Join(dir, "plain.md")
	if err := os.WriteFile(plain, []byte("# matrix\n| a | b |\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = load(t, map[string]string{"mode": "report", "matrix-file": plain})
	wantInputError(t, err, "matrix-file", "plain.md", "expected a markdown file with <!-- mvm-verify:start --> … <!-- mvm-verify:end -->")
	// A marker sharing its line with text would glue the table onto that
	// line, where it does not render: bad input too.
	glued := filepath.Join(dir, "glued.md")
	if err := os.WriteFile(glued, []byte("# matrix <!-- mvm-verify:start -->\n<!-- mvm-verify:end -->\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = load(t, map[string]string{"mode": "report", "matrix-file": glued})
	wantInputError(t, err, "matrix-file", "glued.md", "line 1: <!-- mvm-verify:start --> shares its line with other text")
	// The rows line is report's own: one mangled by hand is bad input,
	// naming the line and saying to delete it.
	mangled := filepath.Join(dir, "mangled.md")
	if err := os.WriteFile(mangled, []byte("<!-- mvm-verify:start -->\n<!-- mvm-verify:rows aws=AWS -->\n| AWS | x |\n<!-- mvm-verify:end -->\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = load(t, map[string]string{"mode": "report", "matrix-file": mangled})
	wantInputError(t, err, "matrix-file", "mangled.md", "line 2: rows line", "delete it")
	// Where the reporting writes: inputs, validated.
	r, err = load(t, map[string]string{"mode": "report", "github-repository": "o/r", "pull-request": "12", "head-sha": strings.Repeat("ab", 20)})
	if err != nil || r.GitHubRepo != "o/r" || r.PullRequest != 12 || r.HeadSHA != strings.Repeat("ab", 20) {
		t.Errorf("report target: %+v, %v", r, err)
	}
	_, err = load(t, map[string]string{"mode": "report", "github-repository": "https://github.com/o/r"})
	wantInputError(t, err, "github-repository", `got "https://github.com/o/r"`, "owner/name")
	_, err = load(t, map[string]string{"mode": "report", "pull-request": "#12"})
	wantInputError(t, err, "pull-request", `got "#12"`, "a pull request number")
	_, err = load(t, map[string]string{"mode": "report", "head-sha": "main"})
	wantInputError(t, err, "head-sha", `got "main"`, "40 lowercase hex digits")
	// Row keys in expect have the form of the key input.
	_, err = load(t, map[string]string{"mode": "report", "expect": "AWS lane,x|y"})
	wantInputError(t, err, "expect", `got "AWS lane,x|y"`, "lowercase letters, digits, - and _")
}

func wantInputError(t *testing.T, err error, input string, contains ...string) {
	t.Helper()
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want an *InputError", err)
	}
	found := false
	for _, e := range unjoin(err) {
		if errors.As(e, &ie) && ie.Input == input {
			found = true
			for _, c := range contains {
				if !strings.Contains(e.Error(), c) {
					t.Errorf("error %q does not contain %q", e, c)
				}
			}
		}
	}
	if !found {
		t.Errorf("err = %v, want an error for input %q", err, input)
	}
}

// A Linux executable is a good probe-binary (this test binary is one).
func TestLoadProbeBinary(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, err := load(t, map[string]string{"provider": "aws", "probe-binary": self})
	if err != nil || r.ProbeBinary != self {
		t.Fatalf("probe-binary %s: %v, %q", self, err, r.ProbeBinary)
	}
}

func TestLoadBadInput(t *testing.T) {
	dir := t.TempDir()
	badSuite := filepath.Join(dir, "suite.yml")
	if err := os.WriteFile(badSuite, []byte("steps:\n  - name: a\n    run: x\n    timeout: ten\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ssh := map[string]string{"provider": "ssh", "ssh-host": "192.0.2.1", "ssh-private-key": testKeyPEM(t), "insecure-host-key": "true"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
				continue
			}
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	aws := map[string]string{"provider": "aws"}
	tests := []struct {
		name  string
		in    map[string]string
		input string
		want  string
	}{
		{"unknown provider", map[string]string{"provider": "digitalocean"}, "provider",
			`input "provider": got "digitalocean", expected one of aws, hetzner, local, ssh`},
		{"no provider", map[string]string{}, "provider", `input "provider": missing, expected one of aws, hetzner, local, ssh`},
		{"mode", with(aws, "mode", "destroy"), "mode", `got "destroy", expected one of run, up, down, report`},
		{"timeout words", with(aws, "timeout-minutes", "ten"), "timeout-minutes",
			`input "timeout-minutes": got "ten", expected a positive whole number of minutes, at most 10080 (e.g. 90)`},
		{"timeout fraction", with(aws, "timeout-minutes", "1.5"), "timeout-minutes", `got "1.5", expected a positive whole number`},
		{"timeout negative", with(aws, "timeout-minutes", "-5"), "timeout-minutes", `got "-5", expected a positive whole number`},
		{"duration", with(aws, "teardown-budget", "5 minutes"), "teardown-budget",
			`input "teardown-budget": got "5 minutes", expected a positive duration like 90m or 1h30m`},
		{"bare duration", with(aws, "ready-timeout", "30"), "ready-timeout", `got "30", expected a positive duration`},
		{"zero duration", with(aws, "ready-timeout", "0s"), "ready-timeout", `got "0s", expected a positive duration like 90m`},
		{"zero teardown budget", with(aws, "teardown-budget", "0s"), "teardown-budget", `got "0s", expected a duration of at least 1m`},
		{"zero timeout", with(aws, "timeout-minutes", "0"), "timeout-minutes", `got "0", expected a positive whole number of minutes`},
		{"no room for teardown", with(aws, "timeout-minutes", "5"), "timeout-minutes",
			`got "5", expected more minutes than teardown-budget (5m0s)`},
		{"no room for teardown in up", with(aws, "mode", "up", "timeout-minutes", "5"), "timeout-minutes",
			`got "5", expected more minutes than teardown-budget (5m0s) plus at least one minute of work`},
		{"report without a minute", map[string]string{"mode": "report", "timeout-minutes": "0"}, "timeout-minutes",
			`got "0", expected a positive whole number of minutes`},
		{"ttl inside the job", with(aws, "ttl", "1h"), "ttl", `got "1h", expected a duration longer than timeout-minutes (1h30m0s)`},
		{"boolean", with(aws, "comment", "yes"), "comment", `input "comment": got "yes", expected true or false`},
		{"disk too small", with(aws, "disk-gb", "7"), "disk-gb", `input "disk-gb": got "7", expected a whole number of GB from 8 to 16384 (e.g. 50)`},
		{"disk too large", with(aws, "disk-gb", "16385"), "disk-gb", `input "disk-gb": got "16385", expected a whole number of GB from 8 to 16384 (e.g. 50)`},
		{"market", with(aws, "market", "cheap"), "market", `got "cheap", expected on-demand or spot`},
		{"lane", with(aws, "lane", "tcg"), "lane", `got "tcg", expected one of auto, kvm, no-kvm`},
		{"key", with(aws, "key", "AWS c8i"), "key", `got "AWS c8i", expected a key like aws`},
		{"region", with(aws, "region", "us east"), "region", `got "us east", expected a region name`},
		{"cost", with(aws, "max-cost", "five"), "max-cost", `got "five", expected an amount in USD like 5 or 2.50`},
		{"cidr", with(aws, "ssh-source-cidr", "203.0.113.300/32"), "ssh-source-cidr", `got "203.0.113.300/32", expected a CIDR like 203.0.113.7/32`},
		{"cidr address", with(aws, "ssh-source-cidr", "203.0.113.7"), "ssh-source-cidr", `(add /32 for one address)`},
		{"cidr anywhere", with(aws, "ssh-source-cidr", "0.0.0.0/0"), "ssh-source-cidr",
			`got "0.0.0.0/0", expected a range of /24 or narrower (such as the runner's address as a /32), or allow-ssh-from-anywhere: true`},
		{"cidr a /8", with(aws, "ssh-source-cidr", "10.0.0.0/8"), "ssh-source-cidr",
			`got "10.0.0.0/8", expected a range of /24 or narrower`},
		{"cidr wider than /24", with(aws, "ssh-source-cidr", "198.51.100.0/23"), "ssh-source-cidr",
			`got "198.51.100.0/23", expected a range of /24 or narrower`},
		{"cidr v6 wider than /64", with(aws, "ssh-source-cidr", "2001:db8::/48"), "ssh-source-cidr",
			`got "2001:db8::/48", expected a range of /64 or narrower (such as the runner's address as a /128), or allow-ssh-from-anywhere: true`},
		{"cidr v6 address", with(aws, "ssh-source-cidr", "2001:db8::7"), "ssh-source-cidr", `(add /128 for one address)`},
		// IPv4-mapped ranges are IPv4: ::ffff:0.0.0.0/96 is all of it.
		{"cidr v4-mapped anywhere", with(aws, "ssh-source-cidr", "::ffff:0.0.0.0/96"), "ssh-source-cidr",
			`got "::ffff:0.0.0.0/96", expected a range of /24 or narrower (such as the runner's address as a /32), or allow-ssh-from-anywhere: true`},
		{"cidr v4-mapped /8", with(aws, "ssh-source-cidr", "::ffff:10.0.0.0/104"), "ssh-source-cidr",
			`got "::ffff:10.0.0.0/104", expected a range of /24 or narrower`},
		// Nothing to fail over from: refused, not ignored.
		{"spot failover on-demand", with(aws, "spot-failover", "true", "market", "on-demand"), "spot-failover",
			`input "spot-failover": got "true", expected false when market is on-demand (set market: spot, or give a candidates entry market: spot`},
		{"spot failover no spot candidate", with(aws, "spot-failover", "true", "candidates", "[{region: us-east-1}, {region: eu-west-1, market: on-demand}]"),
			"spot-failover", `input "spot-failover": got "true", expected false when no candidates entry is on the spot market`},
		{"candidates market", with(aws, "candidates", `[{"region": "us-east-1"}, {"region": "us-east-2", "market": "cheap"}]`), "candidates",
			`input "candidates": line 1: [1].market: got "cheap", expected on-demand or spot`},
		{"candidates key", with(aws, "candidates", "- region: us-east-1\n- regoin: us-east-2\n"), "candidates",
			`input "candidates": line 2: [1]: unknown key "regoin", expected one of region, zone, type, instance-type, market`},
		{"candidates not a list", with(aws, "candidates", "c8i.2xlarge"), "candidates",
			`input "candidates": line 1: got a value "c8i.2xlarge", expected a list like [{region: us-east-1, zone: us-east-1a, type: c8i.large, market: spot}]`},
		{"candidates duplicate", with(aws, "candidates", "[{type: a}, {type: b}, {type: a}]"), "candidates",
			`[2]: same as [0], expected each candidate once`},
		{"candidates yaml", with(aws, "candidates", "[{type: a"), "candidates",
			`input "candidates": got "[{type: a", expected a list like [{region: us-east-1, zone: us-east-1a, type: c8i.large, market: spot}] in YAML or JSON (not valid YAML or JSON: `},
		{"candidates not yaml", with(aws, "candidates", "[oops"), "candidates",
			`input "candidates": got "[oops", expected a list like [{region: us-east-1, zone: us-east-1a, type: c8i.large, market: spot}] in YAML or JSON (not valid YAML or JSON: line `},
		{"candidates long and not yaml", with(aws, "candidates", "[{region: us-east-1, type: c8i.large}, {region: us-east-2, type: m8i.large}, {oops"), "candidates",
			`input "candidates": got "[{region: us-east-1, type: c8i.large}, {region: us-east-2, type: m8i.large}, {oo…", expected a list like`},
		{"candidates two documents", with(aws, "candidates", "- region: us-east-1\n---\n- region: us-east-2\n"), "candidates",
			`input "candidates": line 2: a second YAML document, expected one document per file`},
		{"candidates empty", with(aws, "candidates", "[]"), "candidates", `empty, expected at least one candidate`},
		{"missing suite", with(aws, "suite", filepath.Join(dir, "nope.yml")), "suite",
			`input "suite": got "` + filepath.Join(dir, "nope.yml") + `", expected a readable suite YAML file (`},
		{"suite type error", with(aws, "suite", badSuite), "suite",
			`input "suite": ` + badSuite + `:4: steps[0].timeout: got "ten", expected a duration like 10m or 1h30m`},
		{"endpoint", with(aws, "aws-endpoint", "localhost:4566"), "aws-endpoint", `expected an http(s) URL`},
		{"api url", with(aws, "github-api-url", "ftp://x"), "github-api-url", `expected an http(s) URL`},
		{"role", with(aws, "aws-role-to-assume", "mvm-verify"), "aws-role-to-assume", `expected a role ARN like arn:aws:iam::`},
		{"subnet", with(aws, "subnet-id", "vpc-1"), "subnet-id", `expected a subnet id`},
		{"repository", with(aws, "repository", "https://x/$(reboot)"), "repository", `expected a git URL`},
		{"ref", with(aws, "ref", "main; reboot"), "ref", `got "main; reboot", expected a commit SHA or ref name`},
		{"probe binary", with(aws, "probe-binary", filepath.Join(dir, "mvm-verify")), "probe-binary", `expected a Linux (ELF) build of mvm-verify for the host's architecture (`},
		{"probe binary dir", with(aws, "probe-binary", dir), "probe-binary", `expected a Linux (ELF) build of mvm-verify for the host's architecture, not d`},
		{"probe binary not ELF", with(aws, "probe-binary", badSuite), "probe-binary", `(not an ELF file)`},
		{"ssh without host", with(ssh, "ssh-host", ""), "ssh-host",
			`input "ssh-host": missing, expected the host name or IP address of the existing host (provider ssh)`},
		{"ssh user@host", with(ssh, "ssh-host", "root@192.0.2.1"), "ssh-host", `expected a host name or IP address without user@ (set ssh-user)`},
		{"ssh port", with(ssh, "ssh-port", "70000"), "ssh-port", `got "70000", expected a port number from 1 to 65535`},
		{"ssh without key", with(ssh, "ssh-private-key", ""), "ssh-private-key", `missing, expected the host's private key (or set ssh-private-key-file)`},
		{"ssh two keys", with(ssh, "ssh-private-key-file", "/k"), "ssh-private-key-file", `expected to be empty when ssh-private-key is set`},
		{"ssh key file", with(ssh, "ssh-private-key", "", "ssh-private-key-file", filepath.Join(dir, "id_ed25519")), "ssh-private-key-file",
			`got "` + filepath.Join(dir, "id_ed25519") + `", expected a readable private key file (open ` + filepath.Join(dir, "id_ed25519")},
		{"ssh without host key", with(ssh, "insecure-host-key", ""), "ssh-known-host",
			`missing, expected the host's public key ("ssh-ed25519 AAAA…", e.g. from ssh-keyscan), or insecure-host-key: true`},
		{"ssh bad host key", with(ssh, "ssh-known-host", "ssh-ed25519 notbase64"), "ssh-known-host", `expected a public key like "ssh-ed25519 AAAA…" or a known_hosts line`},
		// The provider would pin the key anyway; the pair contradicts itself.
		{"ssh host key and insecure-host-key", with(ssh, "ssh-known-host", testHostKey(t)), "insecure-host-key",
			`input "insecure-host-key": got "true", expected false when ssh-known-host is given: the key given is pinned and checked; give ssh-known-host or insecure-host-key: true, not both`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.in)
			wantInputError(t, err, tt.input, tt.want)
		})
	}
}

// teardown-budget is kept back from timeout-minutes only where a cycle
// tears down inside the step: run and up. report tears nothing down and
// down is bounded by teardown-budget itself, so a short timeout-minutes,
// as an aggregating job gives, is theirs to take (the verify workflow's
// report job passes 5).
func TestLoadShortTimeoutOutsideTheCycle(t *testing.T) {
	for _, in := range []map[string]string{
		{"mode": "report", "timeout-minutes": "5", "expect": "local,aws"},
		{"mode": "report", "timeout-minutes": "1"},
		{"mode": "down", "timeout-minutes": "5"},
		{"mode": "down", "provider": "aws", "timeout-minutes": "2", "teardown-budget": "10m"},
	} {
		r, err := load(t, in)
		if err != nil {
			t.Errorf("%v: %v", in, err)
			continue
		}
		if want := in["timeout-minutes"]; strconv.Itoa(r.TimeoutMinutes) != want {
			t.Errorf("%v: TimeoutMinutes = %d, want %s", in, r.TimeoutMinutes, want)
		}
	}
	// The same 5 minutes leave a run no time after teardown-budget.
	_, err := load(t, map[string]string{"mode": "run", "provider": "aws", "timeout-minutes": "5"})
	wantInputError(t, err, "timeout-minutes", `got "5", expected more minutes than teardown-budget (5m0s)`)
}

func TestLoadWithoutRef(t *testing.T) {
	// In Actions the runner always passes ref; an empty one is a mistake.
	o := opts()
	o.HeadSHA = ""
	o.Getenv = env(map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r"})
	_, err := LoadWith(MapSource(map[string]string{"provider": "aws"}), o)
	wantInputError(t, err, "ref", `input "ref": missing, expected the commit to check out: suite default-suite.yml (built-in) uses ${MVM_REF}`)
}

// At a terminal, `run --provider local` needs nothing else: the built-in
// suite checks out mvm's main branch.
func TestLoadAtTerminalDefaultsCheckout(t *testing.T) {
	r, err := LoadWith(MapSource(map[string]string{"provider": "aws"}), Options{Providers: registered, Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Repository != DefaultRepository || r.Ref != DefaultRef {
		t.Errorf("repository, ref = %q, %q; want %q, %q", r.Repository, r.Ref, DefaultRepository, DefaultRef)
	}
	if !strings.Contains(strings.Join(r.Suite.Bootstrap, "\n"), DefaultRepository) {
		t.Errorf("bootstrap does not fetch %s", DefaultRepository)
	}
}

func TestLoadWithoutRegistry(t *testing.T) {
	// Without the registry only the provider's form is checked.
	if _, err := LoadWith(MapSource(map[string]string{"provider": "new-cloud", "ref": "main", "repository": "/srv/mvm"}), Options{}); err != nil {
		t.Errorf("provider of good form: %v", err)
	}
	_, err := Load(MapSource(map[string]string{"provider": "New Cloud"}))
	wantInputError(t, err, "provider", `got "New Cloud", expected a provider name like aws`)
}

func TestLoadReportsEveryBadInput(t *testing.T) {
	_, err := load(t, map[string]string{"provider": "aws", "ttl": "forever", "disk-gb": "lots", "comment": "maybe"})
	for _, input := range []string{"ttl", "disk-gb", "comment"} {
		wantInputError(t, err, input)
	}
}

// testKeyPEM returns a new unencrypted ed25519 private key in OpenSSH PEM form.
func testKeyPEM(t *testing.T) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block))
}

func testHostKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
}

func TestLoadSSHProvider(t *testing.T) {
	key := testKeyPEM(t)
	hostKey := testHostKey(t)
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, in := range []map[string]string{
		{"provider": "ssh", "ssh-host": "192.0.2.1", "ssh-private-key": key, "ssh-known-host": hostKey},
		{"provider": "ssh", "ssh-host": "host.example", "ssh-private-key-file": keyFile, "ssh-known-host": "host.example " + hostKey},
	} {
		r, err := load(t, in)
		if err != nil {
			t.Fatal(err)
		}
		secrets := r.Secrets()
		if !slices.Contains(secrets, strings.TrimSpace(key)) && !slices.Contains(secrets, key) {
			t.Errorf("Secrets() lacks the private key")
		}
		line := strings.Split(strings.TrimSpace(key), "\n")[1]
		if !slices.Contains(secrets, line) {
			t.Errorf("Secrets() lacks the key's lines, each masked on its own")
		}
		if !slices.Contains(secrets, "ghs_token0123456789") {
			t.Errorf("Secrets() lacks the GitHub token")
		}
		if red := r.Redact("key: " + key + " token ghs_token0123456789 line " + line); strings.Contains(red, line) || strings.Contains(red, "ghs_") {
			t.Errorf("Redact left a secret: %s", red)
		}
		if r.Input("ssh-host") != in["ssh-host"] {
			t.Errorf("Input(ssh-host) = %q", r.Input("ssh-host"))
		}
	}
}

// A secret never appears in an error, whichever input it was put in.
func TestSecretsNeverInErrors(t *testing.T) {
	key := testKeyPEM(t)
	const fake = "not-a-key-but-a-secret-0123456789"
	passKey := func() string {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("pw"))
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(block))
	}()
	keyFile := filepath.Join(t.TempDir(), "id")
	if err := os.WriteFile(keyFile, []byte(fake+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"provider": "ssh", "ssh-host": "192.0.2.1", "insecure-host-key": "true"}
	tests := []struct {
		name   string
		in     map[string]string
		secret string
		want   string
	}{
		{"bad key", map[string]string{"ssh-private-key": fake}, fake, `input "ssh-private-key": got "***", expected an OpenSSH or PEM private key; for a path use ssh-private-key-file`},
		{"passphrase", map[string]string{"ssh-private-key": passKey}, passKey, `got "***", expected an unencrypted private key (this one has a passphrase)`},
		{"key in the file input", map[string]string{"ssh-private-key-file": key}, key, `input "ssh-private-key-file": got "***", expected a path; pass the key itself in ssh-private-key`},
		{"key in the host input", map[string]string{"ssh-private-key": key, "ssh-host": key}, key, `input "ssh-host": got "***"`},
		{"file that is not a key", map[string]string{"ssh-private-key-file": keyFile}, fake, `expected a file holding an OpenSSH or PEM private key`},
		{"token with a space", map[string]string{"ssh-private-key": key, "github-token": "ghp_" + fake + " x"}, fake, `input "github-token": got "***"`},
		// The candidates input holds no secrets, but a key pasted there is
		// not echoed: not where it does not parse, nor where it parses as
		// a YAML value instead of a list.
		// (ssh-private-key not set: its own value is caught as a secret
		// input's, below.)
		{"key in candidates that does not parse", map[string]string{"candidates": "[" + key}, key, `input "candidates": got "***"`},
		{"key as the candidates value", map[string]string{"candidates": key}, key, `input "candidates": line 1: got a value "***", expected a list`},
		{"key as a candidates field", map[string]string{"candidates": "[{region: " + strconv.Quote(key) + "}]"}, key, `input "candidates": line 1: [0].region: got "***"`},
		{"ssh-private-key's key in candidates", map[string]string{"ssh-private-key": key, "candidates": key}, key, `input "candidates": got "***", expected a list`},
		// Nor is the token, where an input's error would quote its value.
		{"token as the candidates value", map[string]string{"ssh-private-key": key, "github-token": "ghp_" + fake, "candidates": "ghp_" + fake}, fake, `input "candidates": got "***"`},
		{"token in the market input", map[string]string{"ssh-private-key": key, "github-token": "ghp_" + fake, "market": "ghp_" + fake}, fake, `input "market": got "***"`},
		// The token only the environment holds (GITHUB_TOKEN, in opts) is
		// as secret, whichever input is checked first.
		{"environment's token as the candidates value", map[string]string{"ssh-private-key": key, "candidates": "ghs_token0123456789"}, "ghs_token0123456789", `input "candidates": got "***"`},
		{"environment's token in the market input", map[string]string{"ssh-private-key": key, "market": "ghs_token0123456789"}, "ghs_token0123456789", `input "market": got "***"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := map[string]string{}
			for k, v := range base {
				in[k] = v
			}
			for k, v := range tt.in {
				in[k] = v
			}
			_, err := load(t, in)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("err = %s\nwant it to contain %s", msg, tt.want)
			}
			// Not a line of the secret, nor the start of one: an error that
			// shortens a value would echo a line's start only.
			for _, l := range append([]string{tt.secret}, strings.Split(tt.secret, "\n")...) {
				if l = strings.TrimSpace(l); len(l) > 8 && !strings.HasPrefix(l, "-----") && strings.Contains(msg, l[:8]) {
					t.Errorf("error leaks the secret: %s", msg)
				}
			}
			if strings.Contains(tt.secret, "PRIVATE KEY") && (strings.Contains(msg, "BEGIN") || strings.Contains(msg, "PRIVATE KEY")) {
				t.Errorf("error echoes the key's armour: %s", msg)
			}
		})
	}
}

// A secret too short to be told from ordinary text does not hide an
// unrelated value: the error must still say what was wrong. A long one is
// still hidden, whole or as part of the value.
func TestShortSecretDoesNotHideValues(t *testing.T) {
	_, err := load(t, map[string]string{"provider": "aws", "github-token": "us", "region": "us east"})
	if err == nil || !strings.Contains(err.Error(), `input "region": got "us east"`) {
		t.Errorf("err = %v, want it to quote region's value", err)
	}
	// Nor does a short line of a longer secret.
	_, err = load(t, map[string]string{"provider": "aws", "github-token": "ghp_long0123456789\nus", "region": "us east"})
	if err == nil || !strings.Contains(err.Error(), `input "region": got "us east"`) {
		t.Errorf("err = %v, want it to quote region's value despite the secret's short line", err)
	}
	const token = "ghp_long0123456789"
	_, err = load(t, map[string]string{"provider": "aws", "github-token": token, "region": "us " + token})
	if err == nil || !strings.Contains(err.Error(), `input "region": got "***"`) || strings.Contains(err.Error(), token) {
		t.Errorf("err = %v, want region's value hidden", err)
	}
}

func TestCandidates(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]string
		want []providers.Candidate
	}{
		{"single", map[string]string{"region": "us-east-1", "instance-type": "c8i.2xlarge"},
			[]providers.Candidate{{Region: "us-east-1", Type: "c8i.2xlarge", Market: "on-demand"}}},
		{"json with defaults", map[string]string{"region": "us-east-1", "market": "spot",
			"candidates": `[{"type": "c8i.2xlarge"}, {"region": "us-east-2", "zone": "us-east-2b", "instance-type": "m8i.2xlarge", "market": "on-demand"}]`},
			[]providers.Candidate{{Region: "us-east-1", Type: "c8i.2xlarge", Market: "spot"}, {Region: "us-east-2", Zone: "us-east-2b", Type: "m8i.2xlarge", Market: "on-demand"}}},
		// The zone input names a place in the region input: a candidate in
		// another region that names no zone gets none (the provider picks),
		// while one in the same region, or naming no region, gets it.
		{"zone only within its region", map[string]string{"region": "us-east-1", "zone": "us-east-1b",
			"candidates": "[{region: us-east-1}, {region: eu-west-1}, {type: m8i.large}, {region: eu-west-1, zone: eu-west-1c}]"},
			[]providers.Candidate{{Region: "us-east-1", Zone: "us-east-1b", Market: "on-demand"}, {Region: "eu-west-1", Market: "on-demand"},
				{Region: "us-east-1", Zone: "us-east-1b", Type: "m8i.large", Market: "on-demand"}, {Region: "eu-west-1", Zone: "eu-west-1c", Market: "on-demand"}}},
		{"spot failover", map[string]string{"spot-failover": "true", "region": "eu-west-1",
			"candidates": "- {type: c8i.large, market: spot}\n- {type: m8i.large, market: spot}\n- {type: m8i.large}\n"},
			[]providers.Candidate{{Region: "eu-west-1", Type: "c8i.large", Market: "spot"}, {Region: "eu-west-1", Type: "c8i.large", Market: "on-demand"},
				{Region: "eu-west-1", Type: "m8i.large", Market: "spot"}, {Region: "eu-west-1", Type: "m8i.large", Market: "on-demand"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in["provider"] = "aws"
			r, err := load(t, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.Candidates, tt.want) {
				t.Errorf("candidates = %+v\nwant %+v", r.Candidates, tt.want)
			}
		})
	}
}

// TestCandidateInput: an error about a candidate's field names the input
// the value came from — the entry of the candidates input that set it
// (under the key it used), or the single input that filled it in — with
// spot-failover's on-demand twins blamed on their spot entry.
func TestCandidateInput(t *testing.T) {
	r, err := load(t, map[string]string{"provider": "aws", "region": "us-east-1", "instance-type": "c8i.large", "spot-failover": "true",
		"candidates": "[{type: t3.large, market: spot}, {region: eu-west-1}, {instance-type: m5d.large, zone: us-east-1c}]"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Candidates) != 4 {
		t.Fatalf("candidates = %+v, want 4 (the spot entry's twin second)", r.Candidates)
	}
	tests := []struct {
		i           int
		field, want string
	}{
		{0, "type", "candidates[0].type"},
		{0, "market", "candidates[0].market"},
		{0, "region", "region"},
		{1, "type", "candidates[0].type"}, // the twin
		{1, "", "candidates[0]"},
		{2, "region", "candidates[1].region"},
		{2, "type", "instance-type"},
		{2, "", "candidates[1]"},
		{3, "type", "candidates[2].instance-type"},
		{3, "zone", "candidates[2].zone"},
		{3, "market", "market"},
	}
	for _, tt := range tests {
		if got := r.CandidateInput(tt.i, tt.field); got != tt.want {
			t.Errorf("CandidateInput(%d, %q) = %q, want %q", tt.i, tt.field, got, tt.want)
		}
	}
	single, err := load(t, map[string]string{"provider": "aws", "instance-type": "t3.large"})
	if err != nil {
		t.Fatal(err)
	}
	if got := single.CandidateInput(0, "type"); got != "instance-type" {
		t.Errorf("without candidates: %q, want instance-type", got)
	}
	if got := single.CandidateInput(0, ""); got != "" {
		t.Errorf("without candidates, the entry: %q, want none", got)
	}
}

func TestSSHFromAnywhereIsAnOptIn(t *testing.T) {
	r, err := load(t, map[string]string{"provider": "aws", "allow-ssh-from-anywhere": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if r.SSHSourceCIDR != "0.0.0.0/0" || !hasWarning(r, "open to 0.0.0.0/0") {
		t.Errorf("cidr %q, warnings %q", r.SSHSourceCIDR, r.Warnings)
	}
	if r, err = load(t, map[string]string{"provider": "aws", "allow-ssh-from-anywhere": "true", "ssh-source-cidr": "::/0"}); err != nil || r.SSHSourceCIDR != "::/0" {
		t.Errorf("::/0 with the opt-in: %v, %v", r, err)
	}
}

// TestSSHSourceCIDRMapped: an IPv4-mapped range narrow enough is kept as
// the IPv4 range it names, which is what a firewall rule must say.
func TestSSHSourceCIDRMapped(t *testing.T) {
	for in, want := range map[string]string{
		"::ffff:198.51.100.0/120": "198.51.100.0/24",
		"::ffff:203.0.113.7/128":  "203.0.113.7/32",
		"::ffff:0.0.0.0/80":       "::/80",
		"2001:db8::9/64":          "2001:db8::/64",
	} {
		r, err := load(t, map[string]string{"provider": "aws", "ssh-source-cidr": in})
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if r.SSHSourceCIDR != want || r.Input("ssh-source-cidr") != want {
			t.Errorf("%s: SSHSourceCIDR %q, input %q, want %q", in, r.SSHSourceCIDR, r.Input("ssh-source-cidr"), want)
		}
	}
}

func hasWarning(r *Run, s string) bool {
	return slices.ContainsFunc(r.Warnings, func(w string) bool { return strings.Contains(w, s) })
}

func TestWarnings(t *testing.T) {
	r, err := load(t, map[string]string{"provider": "aws", "ssh-host": "192.0.2.1", "matrix-file": "docs/x.md", "insecure-host-key": "true", "ssh-port": "22"})
	if err != nil {
		t.Fatal(err)
	}
	// aws reports the key the host was booted with: only a host reported
	// without one is reached unchecked.
	if !hasWarning(r, "insecure-host-key is true: a host whose key the provider does not report") || hasWarning(r, "the host's key is not checked") {
		t.Errorf("warnings %q lack the insecure-host-key warning for a provider that reports host keys", r.Warnings)
	}
	// An ssh host without ssh-known-host is the one reached unchecked.
	r, err = load(t, map[string]string{"provider": "ssh", "ssh-host": "192.0.2.1", "ssh-private-key": testKeyPEM(t), "insecure-host-key": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(r, "insecure-host-key is true: the host's key is not checked") {
		t.Errorf("ssh without ssh-known-host: warnings %q lack the insecure-host-key warning", r.Warnings)
	}
	// down reads no host key check, so the pair is not refused there; with
	// the key given nothing is unchecked, and nothing may say it is.
	r, err = load(t, map[string]string{"mode": "down", "provider": "ssh", "ssh-known-host": testHostKey(t), "insecure-host-key": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if hasWarning(r, "insecure-host-key") {
		t.Errorf("ssh with ssh-known-host: warnings %q say the key is not checked", r.Warnings)
	}
	// Inputs this leg does not read are the CLI's to report: in the action
	// a matrix passes every leg the same inputs.
	for _, w := range []string{"ssh-host", "ssh-port", "matrix-file"} {
		if hasWarning(r, w) {
			t.Errorf("warned about %s, which the CLI reports: %q", w, r.Warnings)
		}
	}
	// In the action the runner passes github-token's default, the job's
	// token, to every mode: that is not the user's doing.
	r, err = load(t, map[string]string{"mode": "down", "provider": "aws", "github-token": "ghs_x"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Warnings) != 0 {
		t.Errorf("warnings %q, want none", r.Warnings)
	}
	suite := filepath.Join(t.TempDir(), "s.yml")
	if err := os.WriteFile(suite, []byte("user: root\nsteps:\n  - name: a\n    run: \"true\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err = load(t, map[string]string{"provider": "local", "suite": suite}); err != nil {
		t.Fatal(err)
	}
	if len(r.Warnings) != 0 {
		t.Errorf("local with its own suite: warnings %q, want none", r.Warnings)
	}
	// A libtest step that hides passing tests' output cannot see a skip.
	if err := os.WriteFile(suite, []byte("user: root\nsteps:\n  - name: unit\n    run: cargo test\n    parse: libtest\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err = load(t, map[string]string{"provider": "local", "suite": suite}); err != nil {
		t.Fatal(err)
	}
	if !hasWarning(r, `suite step "unit" is parsed as libtest without --show-output`) {
		t.Errorf("libtest step without --show-output: warnings %q", r.Warnings)
	}
}

// TestSpotFailoverWithoutSpotOnlyWhereRead: spot-failover without a spot
// candidate is refused only where the input is read; a matrix passing it
// to every leg must not fail the local or ssh legs, nor down.
func TestSpotFailoverWithoutSpotOnlyWhereRead(t *testing.T) {
	suite := filepath.Join(t.TempDir(), "s.yml")
	if err := os.WriteFile(suite, []byte("user: root\nsteps:\n  - name: a\n    run: \"true\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, in := range []map[string]string{
		{"provider": "local", "spot-failover": "true", "suite": suite},
		{"provider": "aws", "mode": "down", "spot-failover": "true"},
		{"provider": "aws", "spot-failover": "true", "candidates": "[{region: us-east-1}, {region: eu-west-1, market: spot}]"},
	} {
		if _, err := load(t, in); err != nil {
			t.Errorf("%v: %v", in, err)
		}
	}
}

// The built-in suite on provider local changes this machine as root
// (packages, Firecracker, a udev rule) beyond what teardown undoes, yet
// `run --provider local` is the quick start's one command: run and up load
// it, with one warning that names what it installs and writes (from the
// suite itself) and how to avoid it. A suite named on purpose, and other
// providers, get no such warning.
func TestLocalWarnsOfTheBuiltInSuite(t *testing.T) {
	def := DefaultSuite()
	paths := def.WrittenPaths()
	if len(def.Packages) == 0 || len(paths) == 0 {
		t.Fatalf("the built-in suite has packages %v and writes %v: the test shows nothing", def.Packages, paths)
	}
	for _, mode := range []string{"run", "up"} {
		r, err := load(t, map[string]string{"mode": mode, "provider": "local"})
		if err != nil {
			t.Fatalf("%s --provider local without a suite: %v, want the built-in suite run with a warning", mode, err)
		}
		if r.Suite == nil || r.Suite.Name != DefaultSuiteName {
			t.Fatalf("%s --provider local: suite %+v, want the built-in one", mode, r.Suite)
		}
		var found []string
		for _, w := range r.Warnings {
			if strings.Contains(w, "built-in suite") {
				found = append(found, w)
			}
		}
		if len(found) != 1 {
			t.Fatalf("%s: warnings about the built-in suite %q, want one", mode, found)
		}
		want := []string{fmt.Sprintf("installs %d packages", len(def.Packages)), "does not undo", "--suite examples/quickstart.yml"}
		want = append(append(want, def.Packages...), paths...)
		for _, w := range want {
			if !strings.Contains(found[0], w) {
				t.Errorf("%s: the warning lacks %q: %s", mode, w, found[0])
			}
		}
	}
	suite := filepath.Join(t.TempDir(), "suite.yml")
	if err := os.WriteFile(suite, []byte("user: root\npackages: [jq]\nsteps:\n  - name: a\n    run: \"true\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, in := range []map[string]string{
		{"provider": "local", "suite": suite},
		{"provider": "aws"},
		{"mode": "down", "provider": "local"},
	} {
		r, err := load(t, in)
		if err != nil {
			t.Fatalf("%v: %v", in, err)
		}
		for _, w := range r.Warnings {
			if strings.Contains(w, "built-in suite") {
				t.Errorf("%v: warning %q, want none about the built-in suite", in, w)
			}
		}
	}
}

// WrittenPaths names what a bootstrap visibly writes outside scratch
// places, whatever way it writes it, and nothing it only reads or uses.
func TestSuiteWrittenPaths(t *testing.T) {
	s := &Suite{Bootstrap: []string{
		"printf '%s\\n' x > /etc/a.rules\necho y >>/etc/b.conf",
		"curl -o /tmp/x.sh https://example.invalid/x && sh /tmp/x.sh; chgrp kvm /dev/kvm",
		"install -m 0755 \"$tmp/fc\" /usr/local/bin/fc",
		"echo z | sudo tee /etc/c.list >/dev/null",
		"mkdir -p /opt/d; cp /etc/hosts /srv/e; ls /var/lib",
		"dir=\"$HOME/x\"; touch \"$dir/f\"",
	}}
	got := s.WrittenPaths()
	want := []string{"/etc/a.rules", "/etc/b.conf", "/usr/local/bin/fc", "/etc/c.list", "/opt/d", "/srv/e"}
	if !slices.Equal(got, want) {
		t.Errorf("WrittenPaths() = %q, want %q", got, want)
	}
}
