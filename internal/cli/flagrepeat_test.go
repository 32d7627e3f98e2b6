package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runRefused runs the binary in an empty working directory and checks
// that it exits 2 with every want in stderr, none of notOut anywhere in
// its output, and nothing written to the working directory (where the
// default out, ./mvm-verify-out, would go).
func runRefused(t *testing.T, env []string, args []string, want, notOut []string) {
	t.Helper()
	dir := t.TempDir()
	r := runBinHow(t, launch{dir: dir}, cmdEnv(t, env...), args...)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	for _, w := range notOut {
		if strings.Contains(r.stdout+r.stderr, w) {
			t.Errorf("output holds %q:\nstdout:\n%s\nstderr:\n%s", w, r.stdout, r.stderr)
		}
	}
	if strings.Contains(r.stdout, "==> ") {
		t.Errorf("a phase started:\n%s", r.stdout)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		t.Errorf("the working directory holds %s after a refusal", entries[0].Name())
	}
}

// An input flag given twice is refused, naming the flag and the values in
// order, whichever form each takes: the last one must not silently win (a
// wrapper's --provider local before the user's --provider aws would switch
// clouds without a word).
func TestFlagGivenTwiceRefused(t *testing.T) {
	suite := writeSuite(t, quickSuite)
	other := writeSuite(t, quickSuite)
	out := filepath.Join(t.TempDir(), "out")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"provider", []string{"run", "--provider", "local", "--provider", "ssh", "--suite", suite},
			`flag --provider given twice ("local", then "ssh"): give it once`},
		{"lane, = form second", []string{"run", "--provider", "local", "--lane", "no-kvm", "--lane=kvm", "--suite", suite},
			`flag --lane given twice ("no-kvm", then "kvm"): give it once`},
		// up with provider ssh and no host: were the repeat let through,
		// up would still stop at the inputs rather than keep a host.
		{"lane, = form first", []string{"up", "--provider", "ssh", "-lane=no-kvm", "--lane", "kvm", "--suite", suite},
			`flag --lane given twice ("no-kvm", then "kvm"): give it once`},
		{"suite", []string{"run", "--provider", "local", "--suite", suite, "--suite", other},
			`flag --suite given twice ("` + suite + `", then "` + other + `"): give it once`},
		{"same value", []string{"run", "--provider", "local", "--provider", "local", "--suite", suite},
			`flag --provider given twice ("local", then "local")`},
		{"bare switch, then false", []string{"run", "--provider", "local", "--comment", "--comment=false", "--suite", suite},
			`flag --comment given twice ("true", then "false")`},
		{"bool with a word after it", []string{"run", "--provider", "local", "--comment", "false", "--comment", "--suite", suite},
			`flag --comment given twice ("false", then "true")`},
		{"three times", []string{"run", "--provider", "local", "--lane", "kvm", "--lane", "no-kvm", "--lane", "auto", "--suite", suite},
			`flag --lane given 3 times ("kvm", "no-kvm", then "auto"): give it once`},
		{"down", []string{"down", "--out", out, "--out", out + "2"},
			`flag --out given twice ("` + out + `", then "` + out + `2")`},
		{"report", []string{"report", "--expect", "a", "--expect", "b"},
			`flag --expect given twice ("a", then "b")`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runRefused(t, nil, tc.args, []string{tc.want}, nil)
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("down created %s", out)
	}
}

// A secret flag given twice shows *** for both values, and so does any
// flag whose value holds a secret's (a token pasted into the wrong flag).
func TestFlagGivenTwiceHidesSecrets(t *testing.T) {
	const token1, token2 = "ghp_firstTokenValue0123456789", "ghp_secondTokenValue0123456789"
	const keyLine = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"
	key := "-----BEGIN OPENSSH PRIVATE KEY-----\n" + keyLine + "\n-----END OPENSSH PRIVATE KEY-----\n"
	cases := []struct {
		name    string
		args    []string
		want    string
		secrets []string
	}{
		{"github-token", []string{"run", "--provider", "local", "--github-token", token1, "--github-token=" + token2},
			`flag --github-token given twice (***, then ***): give it once`, []string{token1, token2}},
		{"ssh-private-key", []string{"run", "--provider", "ssh", "--ssh-private-key", key, "--ssh-private-key", key},
			`flag --ssh-private-key given twice (***, then ***)`, []string{keyLine}},
		{"a token in another flag", []string{"run", "--provider", "local", "--github-token", token1, "--display", "AWS", "--display", "x" + token1},
			`flag --display given twice ("AWS", then ***)`, []string{token1}},
		{"a key in another flag", []string{"run", "--provider", "local", "--ssh-known-host", key, "--ssh-known-host", "ssh-ed25519 AAAA"},
			`flag --ssh-known-host given twice (***, then "ssh-ed25519 AAAA")`, []string{keyLine}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runRefused(t, nil, tc.args, []string{tc.want}, tc.secrets)
		})
	}
}

// Given through the environment and then as a flag is not given twice:
// the flag wins over INPUT_*, as documented.
func TestFlagOverEnvironmentIsNotARepeat(t *testing.T) {
	runRefused(t, []string{"INPUT_LANE=kvm"}, []string{"run", "--provider", "local", "--lane", "tcg"},
		[]string{`input "lane": got "tcg"`}, []string{"given twice"})
}

// --out "" (a script's unset variable) is refused at the terminal, in both
// forms, rather than writing to ./mvm-verify-out; nothing is created.
func TestOutFlagGivenEmptyRefused(t *testing.T) {
	suite := writeSuite(t, quickSuite)
	for _, args := range [][]string{
		{"run", "--provider", "local", "--suite", suite, "--out", ""},
		{"run", "--provider", "local", "--suite", suite, "--out="},
		// Provider ssh without a host: were --out "" let through, up would
		// still not keep a host.
		{"up", "--provider", "ssh", "--suite", suite, "--out", " "},
		{"down", "--out", ""},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			runRefused(t, nil, args, []string{`input "out": got "", expected a directory path`}, nil)
		})
	}
}

// INPUT_OUT is empty whenever a workflow gives no out (action.yml declares
// it with an empty default): that is not a given empty value, and reads as
// the default. Here another input is bad, so nothing runs, and out is not
// among the errors.
func TestEmptyInputOutIsTheDefault(t *testing.T) {
	runRefused(t, []string{"INPUT_OUT="}, []string{"run", "--provider", "local", "--timeout-minutes", "0"},
		[]string{`input "timeout-minutes": got "0"`}, []string{`input "out"`})
}

// candidates is a list: one mapping is refused at the terminal with the
// form to use, before anything is created.
func TestCandidatesMappingRefusedAtTheTerminal(t *testing.T) {
	runRefused(t, nil, []string{"run", "--provider", "aws", "--candidates", `{"region":"us-east-1"}`},
		[]string{`input "candidates": got "{\"region\":\"us-east-1\"}", expected a YAML or JSON list such as [{region: us-east-1, type: c8i.large}]`},
		nil)
}

// The help says each flag is given once, so the refusal is no surprise.
func TestHelpSaysEachFlagOnce(t *testing.T) {
	r := runBin(t, cmdEnv(t), "run", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "Give each flag at most once") {
		t.Errorf("exit %d, help lacks the rule:\n%s", r.code, r.stdout)
	}
	// report takes no --provider, so its example names flags it does take.
	r = runBin(t, cmdEnv(t), "report", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "Give each flag at most once: a second --out") ||
		strings.Contains(r.stdout, "--provider") {
		t.Errorf("exit %d, report's help names a flag it does not take:\n%s", r.code, r.stdout)
	}
}
