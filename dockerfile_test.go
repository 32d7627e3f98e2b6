package main

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// This machine has no Docker engine, so the image is checked the way it
// can be here: the Dockerfile's shape is read, and its build stage's own
// RUN command is run, so the binary the image would ship is the one tested.

type instruction struct{ cmd, args string }

// parseDockerfile joins continued lines and drops comments, enough for
// the plain Dockerfile this repository keeps.
func parseDockerfile(t *testing.T) []instruction {
	t.Helper()
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

func TestDockerfileShape(t *testing.T) {
	ins := parseDockerfile(t)
	var froms []string
	var final []instruction // instructions of the last stage
	for _, in := range ins {
		if in.cmd == "FROM" {
			froms = append(froms, in.args)
			final = nil
			continue
		}
		final = append(final, in)
	}
	if len(froms) < 2 {
		t.Fatalf("FROM lines %q: want a multi-stage build", froms)
	}
	goVersion := goModVersion(t)
	if !strings.HasPrefix(froms[0], "golang:"+goVersion) {
		t.Errorf("build stage %q does not use go.mod's Go %s", froms[0], goVersion)
	}
	if last := froms[len(froms)-1]; !strings.HasPrefix(last, "gcr.io/distroless/static") {
		t.Errorf("final base %q, want distroless static", last)
	}
	want := map[string]string{
		"USER":       "0:0",
		"ENTRYPOINT": `["/usr/local/bin/mvm-verify"]`,
	}
	got := map[string]string{}
	for _, in := range final {
		got[in.cmd] = in.args
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("final stage %s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["CMD"]; ok {
		t.Error("final stage has CMD: the runner passes the post step the same args, so there must be none")
	}
}

func goModVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(data)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}

// TestDockerfileBuildStage runs the build stage's RUN line (with /out moved
// to a temporary directory) and checks what the final stage copies: a
// static binary with no interpreter or shared libraries, which distroless
// static needs, and the post step's name as a second path of it.
func TestDockerfileBuildStage(t *testing.T) {
	var run string
	for _, in := range parseDockerfile(t) {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			run = in.args
		}
	}
	if run == "" {
		t.Fatal("no RUN with go build in the Dockerfile")
	}
	for _, flag := range []string{"CGO_ENABLED=0", "-trimpath"} {
		if !strings.Contains(run, flag) {
			t.Errorf("build RUN lacks %s: %s", flag, run)
		}
	}
	out := t.TempDir()
	cmd := exec.Command("sh", "-c", strings.ReplaceAll(run, "/out/", out+"/"))
	cmd.Env = append(os.Environ(), "VERSION=v9.9.9-test", "CGO_ENABLED=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build stage RUN: %v\n%s", err, b)
	}
	bin := filepath.Join(out, "bin", "mvm-verify")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a program interpreter: it is not static and cannot run on distroless static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}

	post := filepath.Join(out, "bin", "mvm-verify-post")
	a, errA := os.Stat(bin)
	b, errB := os.Stat(post)
	if errA != nil || errB != nil {
		t.Fatalf("stat: %v %v", errA, errB)
	}
	if a.Sys().(*syscall.Stat_t).Ino != b.Sys().(*syscall.Stat_t).Ino {
		t.Error("mvm-verify-post is not a second path of the same binary")
	}

	// The version comes from the build ARG, and the post name dispatches to
	// the post step: without any saved state it has nothing to undo.
	v, err := exec.Command(bin, "version").Output()
	if err != nil || !bytes.Contains(v, []byte("v9.9.9-test")) {
		t.Errorf("version: %v %q, want the build ARG's v9.9.9-test", err, v)
	}
	p := exec.Command(post)
	p.Env = []string{"GITHUB_ACTIONS=true", "GITHUB_STATE=" + filepath.Join(out, "state")}
	if b, err := p.CombinedOutput(); err != nil || !strings.Contains(string(b), "post") {
		t.Errorf("post step without state: %v\n%s", err, b)
	}
}
