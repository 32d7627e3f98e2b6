package summary

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/libtest"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/probe"
	"github.com/tinylabscom/mvm-verify/internal/verify"
	"github.com/tinylabscom/mvm-verify/providers"
)

func result() *verify.Result {
	return &verify.Result{
		Provider: "aws", Display: "AWS", Outcome: verify.Failed, Lane: "kvm",
		Identity: providers.Identity{Key: "aws", HeadSHA: "0123456789abcdef0123456789abcdef01234567"},
		Started:  time.Date(2026, 5, 6, 10, 0, 0, 0, time.UTC), Duration: 35 * time.Minute,
		FirstFailure: "smoke: exit status 1",
		Phases: []verify.PhaseResult{
			{Name: verify.PhasePreflight, Status: matrix.Pass, Duration: time.Second},
			{Name: verify.PhaseSuite, Status: matrix.Fail, Duration: time.Minute, Error: "1 of 2 steps failed: smoke | bad"},
		},
		Steps: []verify.StepResult{
			{Name: "seccomp", Column: matrix.SeccompProbe, Status: matrix.Pass,
				// Every count differs, so a count printed in another's place shows.
				Tests:  &libtest.Summary{Binaries: 1, Passed: 6, Failed: 0, Ignored: 2, Measured: 1, FilteredOut: 3},
				Output: "test result: ok. 6 passed; 0 failed; 2 ignored; 1 measured; 3 filtered out"},
			{Name: "smoke", Column: matrix.LiveCycle, Status: matrix.Fail, Reason: "exit status 1",
				Output: "<script>alert(1)</script>\n```\n| not | a | table |\n"},
		},
		// A PVM host as the project's own machines are: KVM works, standard
		// guests do not boot.
		Probe: &probe.Report{
			KVM: probe.KVM{DevicePresent: true, OpenRW: true, APIVersion: probe.KVMAPIVersion, CreateVM: true,
				Flavor: "kvm_pvm", StandardGuestsBoot: "no", Reason: "kvm_pvm: stock guest kernels hang right after decompression"},
			CPU:        probe.CPU{Model: "AMD EPYC", Count: 2},
			Seccomp:    probe.Seccomp{Enforced: true, Detail: "getppid returned EPERM"},
			CgroupV2:   true,
			VhostVsock: probe.Device{Present: true, Openable: true},
			Tun:        probe.Device{Present: true, Openable: true},
			Kernel:     "6.18.44", Arch: "x86_64", MemoryBytes: 8 << 30, FreeDiskBytes: 40 << 30, DiskPath: "/",
			Lane:     probe.LaneKVM,
			Problems: []string{"standard guest kernels will not boot"},
		},
		Attempts: []providers.Attempt{
			{Candidate: providers.Candidate{Region: "us-east-1", Zone: "us-east-1a", Type: "c8i.large"}, Class: providers.ClassCapacity, Error: "InsufficientInstanceCapacity"},
			{Candidate: providers.Candidate{Region: "us-east-1", Zone: "us-east-1b", Type: "c8i.large"}, OK: true},
		},
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestMarkdownGolden pins the whole job summary of a failed leg: the row,
// phases, steps, host probe, attempts and logs, with hostile text in an error (a pipe,
// an image, HTML) that must not break the tables or render.
func TestMarkdownGolden(t *testing.T) {
	res := result()
	res.Phases[1].Error = "1 of 2 steps failed: smoke | bad ![x](https://evil.example/p.png) <b>"
	md := Markdown(res)
	path := filepath.Join("testdata", "summary.golden.md")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run go test -update to create it)", path, err)
	}
	if md != string(want) {
		t.Errorf("summary differs from %s:\n--- got\n%s\n--- want\n%s", path, md, want)
	}
	// Outside the fenced logs nothing may render as an image or HTML.
	outside := md
	if i := strings.Index(md, "<details>"); i >= 0 {
		outside = md[:i]
	}
	if strings.Contains(outside, "![") || strings.Contains(outside, "<b>") {
		t.Errorf("the summary's tables render an image or HTML from an error:\n%s", outside)
	}
}

func TestMarkdownContent(t *testing.T) {
	md := Markdown(result())
	for _, want := range []string{
		"| Provider | Preflight | Live cycle | Seccomp probe | Notes |",
		"| AWS | ✅ | ❌ | ✅ |",
		"smoke: exit status 1",
		"6 passed, 0 failed, 2 ignored",
		"InsufficientInstanceCapacity",
		"us-east-1b",
		"`0123456789ab`",
		"smoke \\| bad", // a pipe in an error cannot split the table
		"\n### Host probe\n\n| check | result | detail |\n",
		"\n| KVM_CREATE_VM | ✅ ok |  |\n",
		"\n| standard guests boot | ❌ no | kvm_pvm: stock guest kernels hang right after decompression |\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
}

// Step output is shown verbatim inside a fence it cannot close, so it never
// renders as markdown or HTML.
func TestStepOutputCannotEscapeItsBlock(t *testing.T) {
	md := Markdown(result())
	i := strings.Index(md, "<script>")
	if i < 0 {
		t.Fatal("the step log is missing")
	}
	before := md[:i]
	fenceStart := strings.LastIndex(before, "\n````")
	if fenceStart < 0 {
		t.Fatalf("the log containing ``` is not inside a longer fence:\n%s", md)
	}
	rest := md[i:]
	if !strings.Contains(rest, "\n````\n") {
		t.Fatalf("the fence is not closed after the log:\n%s", md)
	}
}

func TestLogsAreCutUnderTheSummaryLimit(t *testing.T) {
	res := result()
	big := strings.Repeat("x", 1000) + "\n"
	for i := range 40 {
		res.Steps = append(res.Steps, verify.StepResult{Name: "s" + string(rune('a'+i%26)), Status: matrix.Pass, Output: strings.Repeat(big, 200)})
	}
	md := Markdown(res)
	if len(md) > 1<<20 {
		t.Fatalf("summary is %d bytes, over GitHub's 1 MiB limit", len(md))
	}
	if !strings.Contains(md, "bytes cut") {
		t.Error("long logs were not marked as cut")
	}
}

// A notice about how the leg ran (steps without sudo) is in the summary,
// escaped like any other text from the run.
func TestMarkdownShowsNotices(t *testing.T) {
	res := &verify.Result{Display: "SSH", Outcome: verify.Verified,
		Notices: []string{"mvm has no passwordless sudo on h: steps run in its own login shell (bash -lc) | not sudo"}}
	md := Markdown(res)
	if !strings.Contains(md, `Note: mvm has no passwordless sudo on h: steps run in its own login shell (bash -lc) \| not sudo.`) {
		t.Errorf("summary lacks the notice:\n%s", md)
	}
}
