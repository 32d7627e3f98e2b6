package verify

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
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
	requireRootHosts(t)
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
