package verify

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
)

func TestHostPlatform(t *testing.T) {
	cases := []struct{ uname, goos, goarch string }{
		{"Linux x86_64\n", "linux", "amd64"},
		{"Linux aarch64", "linux", "arm64"},
		{"Darwin arm64", "darwin", "arm64"},
		{"Linux armv7l", "linux", "arm"},
		{"Linux riscv64", "linux", "riscv64"},
	}
	for _, tc := range cases {
		goos, goarch, err := hostPlatform(tc.uname)
		if err != nil || goos != tc.goos || goarch != tc.goarch {
			t.Errorf("hostPlatform(%q) = %s/%s, %v; want %s/%s", tc.uname, goos, goarch, err, tc.goos, tc.goarch)
		}
	}
	if _, _, err := hostPlatform("bash: uname: command not found"); err == nil || !strings.Contains(err.Error(), "Linux x86_64") {
		t.Errorf("garbage from uname: err = %v, want one showing the expected form", err)
	}
}

// This test binary is a real executable of the running platform: its
// headers must read as runtime.GOOS/GOARCH.
func TestBinaryPlatformOfThisBinary(t *testing.T) {
	goos, goarch, err := binaryPlatform(testProbeBinary(t))
	if err != nil || goos != runtime.GOOS || goarch != runtime.GOARCH {
		t.Errorf("binaryPlatform(self) = %s/%s, %v; want %s/%s", goos, goarch, err, runtime.GOOS, runtime.GOARCH)
	}
	notExe := t.TempDir() + "/script.sh"
	os.WriteFile(notExe, []byte("#!/bin/sh\n"), 0o755)
	if _, _, err := binaryPlatform(notExe); err == nil {
		t.Error("a shell script read as an executable")
	}
}

func TestCheckProbePlatform(t *testing.T) {
	self := testProbeBinary(t)
	other := map[string]string{"amd64": "aarch64", "arm64": "x86_64"}[runtime.GOARCH]
	if other == "" {
		other = "s390x"
	}
	this := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	if runtime.GOOS == "linux" && this != "" {
		for _, input := range []string{"", "probe-binary"} {
			if err := checkProbePlatform(self, input, "Linux "+this+"\n"); err != nil {
				t.Errorf("input %q: a matching host refused: %v", input, err)
			}
		}
	}
	// The running binary on a host of another architecture: the error
	// says what the host is and which input picks another build.
	err := checkProbePlatform(self, "", "Linux "+other)
	if err == nil {
		t.Fatal("a probe binary for another architecture was accepted")
	}
	for _, want := range []string{runtime.GOOS + "/" + runtime.GOARCH, "Linux " + other, `input "probe-binary"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// A binary given by the input: the input and the path are named.
	err = checkProbePlatform(self, "probe-binary", "Linux "+other)
	if err == nil || !strings.Contains(err.Error(), `input "probe-binary"`) || !strings.Contains(err.Error(), self) {
		t.Errorf("err = %v, want one naming the input and the file", err)
	}
	notExe := t.TempDir() + "/notes.txt"
	os.WriteFile(notExe, []byte("hello"), 0o644)
	if err := checkProbePlatform(notExe, "probe-binary", "Linux x86_64"); err == nil || !strings.Contains(err.Error(), `input "probe-binary"`) {
		t.Errorf("a text file as the probe binary: err = %v, want one naming the input", err)
	}
}

// A provider that knows the host's platform says so, and the cycle takes
// its word instead of asking the host: here it names a platform the test
// host is not, and the probe phase refuses it before any upload.
func TestProviderUnameIsUsed(t *testing.T) {
	testhost.RequireRoot(t)
	p := &hostProvider{uname: "Linux s390x-from-the-provider"}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	plan.ProbeBinary = testProbeBinary(t)
	var out strings.Builder
	plan.Out = &out
	res := Run(context.Background(), plan)
	ph := res.Phase(PhaseProbe)
	if ph == nil || ph.Status != matrix.Fail || !strings.Contains(ph.Error, "s390x-from-the-provider") {
		t.Fatalf("probe phase %+v, want it failed naming the provider's platform\n%s", ph, out.String())
	}
}

// staticBinary builds a tiny Go program with cgo off: a static executable.
func staticBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module static\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "static")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build a static binary: %v\n%s", err, out)
	}
	return bin
}

// dynamicBinary is /bin/true, which Debian links dynamically, as a plain
// `go build` with cgo links mvm-verify.
func dynamicBinary(t *testing.T) string {
	t.Helper()
	const bin = "/bin/true"
	if elfInterpreter(bin) == "" {
		t.Fatalf("%s has no PT_INTERP header: the test needs a dynamically linked executable there (Debian's coreutils)", bin)
	}
	return bin
}

func TestElfInterpreter(t *testing.T) {
	if got := elfInterpreter(dynamicBinary(t)); !strings.Contains(got, "ld-") {
		t.Errorf("elfInterpreter(/bin/true) = %q, want the dynamic loader", got)
	}
	if got := elfInterpreter(staticBinary(t)); got != "" {
		t.Errorf("elfInterpreter(a CGO_ENABLED=0 build) = %q, want none", got)
	}
	script := filepath.Join(t.TempDir(), "script.sh")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	if got := elfInterpreter(script); got != "" {
		t.Errorf("elfInterpreter(a script) = %q, want none", got)
	}
}

// A dynamically linked probe binary is refused for a host that is not this
// machine, saying why and how to build one that runs there; on this
// machine (a loopback address, as local's host) it runs, and a static
// binary runs anywhere.
func TestCheckProbeLinking(t *testing.T) {
	dynamic, static := dynamicBinary(t), staticBinary(t)
	const remoteHost = "203.0.113.7" // documentation address: only compared, never dialled
	for _, input := range []string{"", "probe-binary"} {
		err := checkProbeLinking(dynamic, input, remoteHost)
		if err == nil {
			t.Fatalf("input %q: a dynamically linked probe binary accepted for %s", input, remoteHost)
		}
		for _, want := range []string{"dynamically linked", "CGO_ENABLED=0", `input "probe-binary"`, remoteHost} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("input %q: error %q lacks %q", input, err, want)
			}
		}
		if input != "" && !strings.Contains(err.Error(), dynamic) {
			t.Errorf("error %q does not name the file", err)
		}
		if err := checkProbeLinking(static, input, remoteHost); err != nil {
			t.Errorf("input %q: a static probe binary refused: %v", input, err)
		}
		for _, here := range []string{"127.0.0.1", "127.0.3.9", "::1", "localhost"} {
			if err := checkProbeLinking(dynamic, input, here); err != nil {
				t.Errorf("input %q: a dynamically linked probe binary refused for this machine (%s): %v", input, here, err)
			}
		}
	}
}

// A cloud's host is never this machine: a dynamically linked probe binary
// is refused at preflight, before a host is created and paid for.
func TestDynamicProbeRefusedBeforeACloudHost(t *testing.T) {
	p := &hostProvider{}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	plan.Info = providers.Info{Name: "testhosts", Creates: true, Billed: true}
	plan.ProbeBinary = dynamicBinary(t)
	var out strings.Builder
	plan.Out = &out
	res := Run(context.Background(), plan)
	ph := res.Phase(PhasePreflight)
	if ph == nil || ph.Status != matrix.Fail || !strings.Contains(ph.Error, "dynamically linked") || !strings.Contains(ph.Error, "CGO_ENABLED=0") {
		t.Fatalf("preflight %+v, want it failed saying the binary is dynamically linked and how to build it\n%s", ph, out.String())
	}
	if res.Phase(PhaseProvision) != nil {
		t.Errorf("a host was provisioned after the refusal: %+v", res.Phases)
	}
	if left, _ := p.List(context.Background(), providers.Filter{}); len(left) != 0 {
		t.Errorf("hosts created: %v", left)
	}
}

// A host known before anything is created (ssh's ssh-host) that is not
// this machine gets the same refusal as a cloud's, at preflight: before
// ready installs packages, creates the suite's user and runs the bootstrap
// there. The plan's known host is a documentation address the test's
// provider never dials (its hosts are on loopback), so the refusal can
// only come from the plan.
func TestDynamicProbeRefusedBeforeAKnownHost(t *testing.T) {
	p := &hostProvider{}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	plan.Info = providers.Info{Name: "testhosts"} // creates nothing, bills nothing: as ssh
	plan.HostAddress = "203.0.113.7"
	plan.ProbeBinary = dynamicBinary(t)
	plan.ProbeBinaryInput = "probe-binary"
	var out strings.Builder
	plan.Out = &out
	res := Run(context.Background(), plan)
	ph := res.Phase(PhasePreflight)
	if ph == nil || ph.Status != matrix.Fail {
		t.Fatalf("preflight %+v, want it failed\n%s", ph, out.String())
	}
	for _, want := range []string{`input "probe-binary"`, "dynamically linked", "CGO_ENABLED=0", "203.0.113.7"} {
		if !strings.Contains(ph.Error, want) {
			t.Errorf("preflight error %q lacks %q", ph.Error, want)
		}
	}
	if res.Phase(PhaseProvision) != nil || res.Phase(PhaseReady) != nil {
		t.Errorf("the cycle went on after the refusal: %+v", res.Phases)
	}
	if len(p.hosts) != 0 {
		t.Errorf("a host was reached after the refusal: %v", p.hosts)
	}
}

// Every host is Linux: a probe binary built for another OS is refused at
// preflight whatever the host, naming the input and what to build.
func TestNonLinuxProbeRefusedAtPreflight(t *testing.T) {
	p := &hostProvider{}
	plan := testPlan(p, Step{Name: "never", Run: "true"})
	plan.ProbeBinary = crossBinary(t, "darwin", "arm64")
	plan.ProbeBinaryInput = "probe-binary"
	var out strings.Builder
	plan.Out = &out
	res := Run(context.Background(), plan)
	ph := res.Phase(PhasePreflight)
	if ph == nil || ph.Status != matrix.Fail {
		t.Fatalf("preflight %+v, want it failed\n%s", ph, out.String())
	}
	for _, want := range []string{`input "probe-binary"`, "darwin/arm64", "linux build"} {
		if !strings.Contains(ph.Error, want) {
			t.Errorf("preflight error %q lacks %q", ph.Error, want)
		}
	}
	if res.Phase(PhaseProvision) != nil || len(p.hosts) != 0 {
		t.Errorf("a host was provisioned after the refusal: %+v", res.Phases)
	}
}

// crossBinary builds a tiny Go program for goos/goarch.
func crossBinary(t *testing.T, goos, goarch string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module cross\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "cross")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build a %s/%s binary: %v\n%s", goos, goarch, err, out)
	}
	return bin
}
