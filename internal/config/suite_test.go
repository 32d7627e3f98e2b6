package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
)

func TestDefaultSuite(t *testing.T) {
	s := DefaultSuite()
	if s.User != "mvm" {
		t.Errorf("user = %q, want mvm", s.User)
	}
	// MVM-SUITE.md's apt list.
	for _, p := range strings.Fields("build-essential pkg-config libssl-dev cmake clang lld curl git jq xz-utils protobuf-compiler cpu-checker iptables") {
		if !slices.Contains(s.Packages, p) {
			t.Errorf("packages lack %s", p)
		}
	}
	want := []struct {
		name   string
		run    string
		kvm    bool
		parse  string
		column matrix.Column
	}{
		{"build", "cargo build --workspace --all-targets", false, ParseExit, ""},
		{"seccomp", "cargo test -p mvm-guest --test seccomp_apply", false, ParseLibtest, matrix.SeccompProbe},
		{"mvm smoke", "cargo test --test smoke_invoke -- --test-threads=1", true, ParseLibtest, matrix.LiveCycle},
		{"mvmd smoke", "smoke-mvmd.sh", true, ParseExit, matrix.LiveCycle},
	}
	if len(s.Steps) != len(want) {
		t.Fatalf("%d steps, want %d", len(s.Steps), len(want))
	}
	for i, w := range want {
		st := s.Steps[i]
		if st.Name != w.name || !strings.Contains(st.Run, w.run) || st.NeedsKVM() != w.kvm || st.Parse != w.parse || st.Column != w.column {
			t.Errorf("step %d = {%q kvm=%v parse=%s column=%q}, want {%q containing %q kvm=%v parse=%s column=%q}",
				i, st.Name, st.NeedsKVM(), st.Parse, st.Column, w.name, w.run, w.kvm, w.parse, w.column)
		}
		if st.Timeout <= 0 {
			t.Errorf("step %q has no timeout", st.Name)
		}
		// A gated test that skips itself says so on stdout, which libtest
		// hides for a passing test unless asked: unseen, a skip reads pass.
		if st.Parse == ParseLibtest && !strings.Contains(st.Run, "--show-output") && !strings.Contains(st.Run, "--nocapture") {
			t.Errorf("libtest step %q runs without --show-output, so a gated skip would read as a pass", st.Name)
		}
	}
	if s.Steps[2].Env["MVM_LIVE_SMOKE"] != "1" {
		t.Errorf("mvm smoke env = %v, want MVM_LIVE_SMOKE=1", s.Steps[2].Env)
	}
	boot := strings.Join(s.Bootstrap, "\n")
	for _, w := range []string{"rustup", "--profile minimal", "firecracker", "jailer", "${MVM_REPO}", "${MVM_REF}", "/dev/kvm"} {
		if !strings.Contains(boot, w) {
			t.Errorf("bootstrap lacks %q", w)
		}
	}
	// A fixed name in a shared temp dir is one another user of the host
	// can plant first (a file of theirs, a FIFO): the bootstrap writes
	// only into directories mktemp -d made.
	fixedTmp := regexp.MustCompile(`/tmp/[^\s"']`)
	for _, c := range s.Bootstrap {
		if fixedTmp.MatchString(c) {
			t.Errorf("bootstrap command writes through a fixed /tmp path:\n%s", c)
		}
	}
}

// The mvmd smoke writes desired.json and the coordinator config; the seed's
// bugs were a "version" key instead of schema_version/node_id/prune_* and a
// coordinator with autoscale disabled.
func TestDefaultSuiteMvmdFiles(t *testing.T) {
	run := DefaultSuite().Steps[3].Run

	desired := heredoc(t, run, "JSON")
	var d struct {
		SchemaVersion       int             `json:"schema_version"`
		NodeID              string          `json:"node_id"`
		Tenants             json.RawMessage `json:"tenants"`
		PruneUnknownTenants *bool           `json:"prune_unknown_tenants"`
		PruneUnknownPools   *bool           `json:"prune_unknown_pools"`
	}
	dec := json.NewDecoder(strings.NewReader(desired))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("desired.json: %v\n%s", err, desired)
	}
	if d.SchemaVersion != 1 || d.NodeID == "" || d.Tenants == nil || d.PruneUnknownTenants == nil || d.PruneUnknownPools == nil {
		t.Errorf("desired.json = %+v, want schema_version 1, node_id, tenants and both prune flags", d)
	}

	toml := heredoc(t, run, "TOML")
	settings := map[string]string{}
	section := ""
	for _, l := range strings.Split(toml, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "[") {
			section = strings.Trim(l, "[]")
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok {
			settings[section+"."+strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if settings["autoscale.enabled"] != "true" || settings["autoscale.min"] != "1" || settings["autoscale.max"] != "1" {
		t.Errorf("coordinator config %v, want [autoscale] enabled = true, min = max = 1", settings)
	}
}

// heredoc returns the body of the `<<'TAG'` here-document in script.
func heredoc(t *testing.T, script, tag string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<<'` + tag + `'\n(.*?)\n` + tag + `\n`).FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("no %s here-document in the step", tag)
	}
	return m[1]
}

// Every command of the built-in suite is valid shell: bootstrap for sh (what
// cloud-init runs) after the variables are replaced, steps for bash.
func TestDefaultSuiteShellSyntax(t *testing.T) {
	s, err := DefaultSuite().Expand(Vars{Repo: "https://github.com/tinylabscom/mvm", Ref: "0123456789abcdef0123456789abcdef01234567"})
	if err != nil {
		t.Fatal(err)
	}
	check := func(shell, what, script string) {
		path, err := exec.LookPath(shell)
		if err != nil {
			t.Fatalf("no %s on this machine to check the default suite's syntax with (Debian packages bash, dash)", shell)
		}
		cmd := exec.Command(path, "-n")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %s -n: %v\n%s\n%s", what, shell, err, out, script)
		}
	}
	for i, c := range s.Bootstrap {
		if strings.Contains(c, "${MVM_") {
			t.Errorf("bootstrap[%d] still has a placeholder: %s", i, c)
		}
		// cloud-init runs bootstrap under set -e, which ignores a failure
		// anywhere in an && list but its end: such a failure would pass.
		if strings.Contains(c, "&&") {
			t.Errorf("bootstrap[%d] chains commands with &&, which hides failures under set -e: %s", i, c)
		}
		check("sh", "bootstrap", c)
	}
	for _, st := range s.Steps {
		check("bash", "step "+st.Name, st.Run)
	}
}

func TestDefaultSuiteYAMLIsTheEmbeddedFile(t *testing.T) {
	data, err := os.ReadFile("default-suite.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(DefaultSuiteYAML(), data) {
		t.Error("DefaultSuiteYAML differs from default-suite.yml")
	}
}

func TestSuiteUserRoot(t *testing.T) {
	// The local provider runs steps on this machine, as root.
	s, err := ParseSuite("s.yml", []byte("user: root\nsteps:\n  - name: a\n    run: id\n"))
	if err != nil || s.User != "root" {
		t.Fatalf("suite %+v, err %v", s, err)
	}
}

func TestUploadModeDefault(t *testing.T) {
	// An upload without a mode is a plain file, not an executable.
	s, err := ParseSuite("s.yml", []byte("uploads:\n  - {src: a, dst: /a}\n  - {src: b, dst: /b, mode: 0o700}\nsteps:\n  - name: a\n    run: id\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Uploads) != 2 || s.Uploads[0].Mode != 0o644 || s.Uploads[1].Mode != 0o700 {
		t.Fatalf("uploads = %+v, want modes 0644 (the default) and 0700", s.Uploads)
	}
}

func TestLoadExampleSuite(t *testing.T) {
	s, err := LoadSuite("testdata/example-suite.yml")
	if err != nil {
		t.Fatal(err)
	}
	if s.User != "tester" || !slices.Equal(s.Packages, []string{"jq", "curl"}) || len(s.Bootstrap) != 1 {
		t.Errorf("suite = %+v", s)
	}
	abs, _ := filepath.Abs("testdata/files/hello.sh")
	if len(s.Uploads) != 1 || s.Uploads[0].Src != abs || s.Uploads[0].Dst != "/home/${MVM_USER}/bin/hello" || s.Uploads[0].Mode != 0o755 {
		t.Errorf("uploads = %+v, want %s → /home/${MVM_USER}/bin/hello 0755", s.Uploads, abs)
	}
	hello, kvm := s.Steps[0], s.Steps[1]
	if hello.Parse != ParseExit || hello.Timeout != 0 || hello.NeedsKVM() || hello.Column != "" {
		t.Errorf("hello = %+v, want the defaults", hello)
	}
	if !kvm.NeedsKVM() || kvm.Timeout != 2*time.Minute || kvm.Column != matrix.LiveCycle ||
		kvm.Env["GREETING"] != "hi" || kvm.Env["EMPTY"] != "" || len(kvm.Env) != 2 {
		t.Errorf("kvm check = %+v", kvm)
	}

	x, err := s.Expand(Vars{Repo: "https://example.com/r.git", Ref: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if x.Bootstrap[0] != `echo "checking out v1 of https://example.com/r.git for tester" > /etc/motd` {
		t.Errorf("bootstrap expanded to %q", x.Bootstrap[0])
	}
	if x.Uploads[0].Dst != "/home/tester/bin/hello" {
		t.Errorf("dst expanded to %q", x.Uploads[0].Dst)
	}
	if env := x.Steps[1].Env; env["MVM_REF"] != "v1" || env["MVM_USER"] != "tester" || env["GREETING"] != "hi" {
		t.Errorf("step env = %v", env)
	}
	if s.Bootstrap[0] == x.Bootstrap[0] || len(s.Steps[1].Env) != 2 {
		t.Error("Expand changed the original suite")
	}
}

func TestExpandNamesTheMissingInput(t *testing.T) {
	_, err := DefaultSuite().Expand(Vars{Repo: "https://github.com/tinylabscom/mvm"})
	var ie *InputError
	if !errors.As(err, &ie) || ie.Input != "ref" || !strings.Contains(err.Error(), "${MVM_REF}") {
		t.Fatalf("err = %v, want an InputError for ref naming ${MVM_REF}", err)
	}
	// A step may set its own MVM_REF; the suite's value does not override it.
	s := &Suite{Name: "s", User: "u", Steps: []Step{{Name: "a", Run: "true", Env: map[string]string{"MVM_REF": "mine"}}}}
	x, err := s.Expand(Vars{Ref: "theirs"})
	if err != nil {
		t.Fatal(err)
	}
	if x.Steps[0].Env["MVM_REF"] != "mine" {
		t.Errorf("MVM_REF = %q, want the step's own", x.Steps[0].Env["MVM_REF"])
	}
}

func TestParseSuiteErrors(t *testing.T) {
	const steps = "steps:\n  - name: a\n    run: true\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"duration", "steps:\n  - name: a\n    run: x\n  - name: b\n    run: y\n    timeout: 5 minutes\n",
			`s.yml:6: steps[1].timeout: got "5 minutes", expected a duration like 10m or 1h30m`},
		{"zero duration", "steps:\n  - name: a\n    run: x\n    timeout: 0s\n",
			`s.yml:4: steps[0].timeout: got "0s", expected a duration like 10m or 1h30m`},
		{"unknown top key", "user: mvm\nstep: []\n",
			`s.yml:2: unknown key "step", expected one of user, packages, bootstrap, uploads, steps`},
		{"unknown step key", "steps:\n  - name: a\n    run: x\n    tiemout: 5m\n",
			`s.yml:4: steps[0]: unknown key "tiemout", expected one of name, run, timeout, needs, column, parse, env`},
		{"duplicate name", "steps:\n  - name: a\n    run: x\n  - name: a\n    run: y\n",
			`s.yml:4: steps[1].name: got "a", expected a name no other step has (steps[0] has it)`},
		{"empty name", "steps:\n  - name: ' '\n    run: x\n", `s.yml:2: steps[0].name: got " ", expected a one-line step name`},
		{"multi-line name", "steps:\n  - name: \"a\\nb\"\n    run: x\n", `s.yml:2: steps[0].name: got "a…", expected a one-line step name`},
		{"name with a carriage return", "steps:\n  - name: \"a\\rb\"\n    run: x\n", `s.yml:2: steps[0].name: got "a\rb", expected a one-line step name`},
		{"missing run", "steps:\n  - name: a\n", `s.yml:2: steps[0].run: missing, expected a shell command`},
		{"empty run", "steps:\n  - name: a\n    run:\n", `s.yml:3: steps[0].run: empty, expected a shell command`},
		{"needs", "steps:\n  - name: a\n    run: x\n    needs: [kvm, gpu]\n",
			`s.yml:4: steps[0].needs[1]: got "gpu", expected kvm (the only capability a step can need)`},
		{"column", "steps:\n  - name: a\n    run: x\n    column: Notes\n",
			`s.yml:4: steps[0].column: got "Notes", expected one of "Preflight", "Live cycle", "Seccomp probe", or no column`},
		{"parse", "steps:\n  - name: a\n    run: x\n    parse: tap\n", `s.yml:4: steps[0].parse: got "tap", expected one of exit (the exit status), libtest (cargo test results) or passfail (the exit status and PASS/FAIL lines)`},
		{"parse case", "steps:\n  - name: a\n    run: x\n    parse: PassFail\n", `s.yml:4: steps[0].parse: got "PassFail", expected one of exit (the exit status), libtest (cargo test results) or passfail (the exit status and PASS/FAIL lines)`},
		{"env name", "steps:\n  - name: a\n    run: x\n    env:\n      BAD-NAME: 1\n",
			`s.yml:5: steps[0].env: got "BAD-NAME", expected environment variable names like MVM_LIVE_SMOKE (letters, digits, _)`},
		{"env list", "steps:\n  - name: a\n    run: x\n    env: [A]\n", `s.yml:4: steps[0].env: got a list, expected a mapping`},
		{"type error", "packages: git\n" + steps, `s.yml:1: packages: got a value "git", expected a list of apt package names`},
		{"package", "packages: [git, 'rm -rf /']\n" + steps, `s.yml:1: packages[1]: got "rm -rf /", expected an apt package name like build-essential`},
		{"user", "user: Bad User\n" + steps, `s.yml:1: user: got "Bad User", expected a user name like mvm`},
		{"upload dst", "uploads:\n  - src: a\n    dst: rel/path\n" + steps,
			`s.yml:3: uploads[0].dst: got "rel/path", expected an absolute path on the host like /usr/local/bin/tool`},
		{"upload missing dst", "uploads:\n  - src: a\n" + steps, `s.yml:2: uploads[0].dst: missing, expected an absolute path on the host`},
		{"upload mode", "uploads:\n  - {src: a, dst: /a, mode: 999}\n" + steps, `s.yml:2: uploads[0].mode: got "999", expected an octal file mode like 0755`},
		// Octal, but above the permission and setuid/setgid/sticky bits.
		{"upload mode too big", "uploads:\n  - {src: a, dst: /a, mode: 17777}\n" + steps, `s.yml:2: uploads[0].mode: got "17777", expected an octal file mode like 0755`},
		{"duplicate key", "steps:\n  - name: a\n    run: x\n    run: y\n", `s.yml:4: steps[0].run: given twice, expected once (first on line 3)`},
		{"no steps", "user: mvm\n", `s.yml:1: steps: missing, expected a list of steps`},
		{"empty steps", "steps: []\n", `s.yml:1: steps: empty, expected at least one step`},
		{"not a mapping", "- a\n- b\n", `s.yml:1: got a list, expected a mapping with the keys user`},
		{"empty file", "", `s.yml: empty, expected a suite with at least one step`},
		{"bad yaml", "steps: [\n", `s.yml: not valid YAML`},
		// yaml.Unmarshal reads the first document only: the rest of the
		// file would be dropped without a word.
		{"second document", steps + "---\nuser: v\n", `s.yml:4: a second YAML document, expected one document per file`},
		{"second document after an empty one", "---\n---\n" + steps, `s.yml:2: a second YAML document, expected one document per file`},
		{"bad yaml in a second document", steps + "---\nsteps: [\n", `s.yml: not valid YAML: line 6: did not find expected node content`},
		// A parser error names the line the construct is on (yaml.v3 says
		// one less), a scanner error the line of the bad character.
		{"unclosed flow list", "user: root\nsteps:\n  - name: a\n    run: [x\n", `s.yml: not valid YAML: line 4: did not find expected ',' or ']'`},
		{"tab indent", "user: root\nsteps:\n\t- name: a\n", `s.yml: not valid YAML: line 3: found character that cannot start any token`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSuite("s.yml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant it to contain %s", err, tt.want)
			}
		})
	}
}

// A "---" that starts nothing, or ends the file, drops nothing.
func TestParseSuiteEmptyTrailingDocument(t *testing.T) {
	for _, data := range []string{
		"steps:\n  - name: a\n    run: x\n---\n",
		"---\nsteps:\n  - name: a\n    run: x\n---\n# nothing here\n",
		"steps:\n  - name: a\n    run: x\n...\n",
	} {
		if s, err := ParseSuite("s.yml", []byte(data)); err != nil || len(s.Steps) != 1 {
			t.Errorf("ParseSuite(%q) = %v, %v; want its one step", data, s, err)
		}
	}
}

func TestParseSuiteReportsEveryProblem(t *testing.T) {
	_, err := ParseSuite("s.yml", []byte("steps:\n  - name: a\n    run: x\n    parse: tap\n  - name: b\n    run: y\n    timeout: soon\n"))
	var fields []*FieldError
	for _, e := range unjoin(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			fields = append(fields, fe)
		}
	}
	if len(fields) != 2 || fields[0].Line != 4 || fields[1].Line != 7 {
		t.Fatalf("err = %v, want two field errors on lines 4 and 7", err)
	}
}

func TestLoadSuiteUploadSource(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "suite.yml")
	data := "uploads:\n  - src: missing.sh\n    dst: /x\n  - src: .\n    dst: /y\nsteps:\n  - name: a\n    run: x\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadSuite(path)
	if err == nil {
		t.Fatal("no error for a missing upload source")
	}
	for _, want := range []string{path + `:2: uploads[0].src: got "missing.sh", expected a file relative to ` + dir,
		path + `:4: uploads[1].src: got ".", expected a regular file`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v\nwant it to contain %s", err, want)
		}
	}
}

// TestParseModes: every parse mode a step may name is kept as written,
// and a step without one is read by its exit status.
func TestParseModes(t *testing.T) {
	for _, mode := range []string{ParseExit, ParseLibtest, ParsePassFail} {
		s, err := ParseSuite("s.yml", []byte("steps:\n  - name: a\n    run: x\n    parse: "+mode+"\n  - name: b\n    run: y\n"))
		if err != nil {
			t.Fatalf("parse: %s: %v", mode, err)
		}
		if s.Steps[0].Parse != mode || s.Steps[1].Parse != ParseExit {
			t.Errorf("parse: %s read as %q (the step without one %q), want %q (%q)", mode, s.Steps[0].Parse, s.Steps[1].Parse, mode, ParseExit)
		}
	}
}
