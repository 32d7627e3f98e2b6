package aws_test

import (
	"bytes"
	"context"
	"debug/elf"
	binenc "encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/aws"
	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// TestErrorClassesThroughTheFake: RunInstances on the first of two
// candidates fails with EC2's own error, through the real SDK. A quota
// error cleans up the partial attempt and moves on to the next candidate;
// an auth or invalid error stops after that one call, with EC2's message
// kept for the summary.
func TestErrorClassesThroughTheFake(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		code    string
		message string
		class   providers.Class
		next    bool // the second candidate is tried (and launches)
	}{
		{name: "quota", status: 400, code: "VcpuLimitExceeded", class: providers.ClassQuota, next: true,
			message: "You have requested more vCPU capacity than your current vCPU limit of 0 allows for the instance bucket that the specified instance type belongs to."},
		{name: "auth", status: 403, code: "UnauthorizedOperation", class: providers.ClassAuth,
			message: "You are not authorized to perform this operation. User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ec2:RunInstances"},
		// Credentials EC2 does not accept are the account's problem, not the
		// candidate's: no other candidate is tried with them.
		{name: "auth failure", status: 401, code: "AuthFailure", class: providers.ClassAuth,
			message: "AWS was not able to validate the provided access credentials"},
		{name: "invalid", status: 400, code: "InvalidParameterCombination", class: providers.ClassInvalid,
			message: "The specified combination of instance type and network interface options is not supported."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, idleBooter)
			srv.Inject(fakecloud.Fault{Op: "RunInstances", Status: tt.status, Code: tt.code, Message: tt.message,
				When: func(c fakecloud.Call) bool { return c.Params["InstanceType"] == "c8i.large" }})
			p := newProvider(t, srv, nil)
			id := identity("aws")
			cands := []providers.Candidate{{Type: "c8i.large"}, {Type: "m8i.large"}}
			h, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), cands, nil,
				providers.FallbackOptions{Sleep: noSleep})
			ops := srv.Ops()
			if len(attempts) == 0 || attempts[0].Class != tt.class || attempts[0].Code != tt.code || !strings.Contains(attempts[0].Error, tt.message) {
				t.Fatalf("first attempt = %+v, want %s (%s) with EC2's message", attempts, tt.class, tt.code)
			}
			if tt.next {
				if err != nil {
					t.Fatalf("create: %v (attempts %+v)", err, attempts)
				}
				if h.Type != "m8i.large" || len(attempts) != 2 || !attempts[0].CleanedUp || !attempts[1].OK {
					t.Errorf("host %+v, attempts %+v: want the first cleaned up and m8i.large launched", h, attempts)
				}
				// One launch per candidate (a quota is the account's, not a
				// zone's: no other zone is tried), and the first attempt's
				// group was deleted before the second launch.
				if n := count(ops, "RunInstances"); n != 2 {
					t.Errorf("RunInstances calls = %d, want 2: %v", n, ops)
				}
				var launches []int
				for i, op := range ops {
					if op == "RunInstances" {
						launches = append(launches, i)
					}
				}
				if del := slices.Index(ops, "DeleteSecurityGroup"); len(launches) != 2 || del < launches[0] || del > launches[1] {
					t.Errorf("the partial attempt's group was not deleted between the two launches: %v", ops)
				}
				if in, _ := srv.Instance(h.ID); in.Type != "m8i.large" {
					t.Errorf("launched %+v", in)
				}
			} else {
				if err == nil || providers.ClassOf(err) != tt.class || !strings.Contains(err.Error(), tt.message) {
					t.Errorf("err = %v, want %s with EC2's message", err, tt.class)
				}
				if n := count(ops, "RunInstances"); n != 1 || len(attempts) != 1 {
					t.Errorf("RunInstances calls = %d, attempts %+v: want one, then stop", n, attempts)
				}
				if len(srv.Instances()) != 0 {
					t.Errorf("instances = %+v", srv.Instances())
				}
			}
			// Whatever the attempt left (its group) is the teardown's.
			if _, err := p.Destroy(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			assertNothingLeft(t, srv, p, id)
		})
	}
}

// TestBareMetalLaunchSendsNoCpuOptions: a .metal type has KVM without
// nested virtualization, and EC2 takes CpuOptions.NestedVirtualization only
// on the types that offer it, so a c5.metal launch sends no CpuOptions and
// runs.
func TestBareMetalLaunchSendsNoCpuOptions(t *testing.T) {
	srv := newFake(t, idleBooter)
	p := newProvider(t, srv, map[string]string{"instance-type": "c5.metal"})
	id := identity("aws")
	h, err := p.Create(context.Background(), request(id), nil)
	if err != nil {
		t.Fatal(err)
	}
	insts := srv.Instances()
	if len(insts) != 1 || insts[0].Type != "c5.metal" || insts[0].State != "running" || h.Type != "c5.metal" || h.Address == "" {
		t.Fatalf("host %+v, instances %+v: want a running c5.metal", h, insts)
	}
	for k, v := range insts[0].Request {
		if strings.HasPrefix(k, "CpuOptions.") {
			t.Errorf("RunInstances sent %s=%s for c5.metal", k, v)
		}
	}
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, srv, p, id)
}

// TestGravitonMetalLaunchesItsArchitecture: for a probe built for arm64 a
// Graviton *.metal type passes preflight and launches from the arm64
// Ubuntu parameter, not the amd64 one EC2 would refuse on it; for an amd64
// probe the x86 metal type launches from the amd64 one.
func TestGravitonMetalLaunchesItsArchitecture(t *testing.T) {
	// The AMIs are the ones behind each parameter in the fake.
	for _, tt := range []struct{ arch, typ, ami string }{
		{"arm64", "c6g.metal", fake.UbuntuARMAMI},
		{"amd64", "c5.metal", fake.UbuntuAMI},
	} {
		t.Run(tt.arch, func(t *testing.T) {
			srv := newFake(t, idleBooter)
			p, err := aws.New(options(srv, map[string]string{"instance-type": tt.typ}, env), aws.Config{Arch: tt.arch})
			if err != nil {
				t.Fatal(err)
			}
			id := identity("aws")
			if err := p.Preflight(context.Background(), request(id)); err != nil {
				t.Fatalf("preflight: %v", err)
			}
			h, err := p.Create(context.Background(), request(id), nil)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if in, _ := srv.Instance(h.ID); in.Type != tt.typ || in.ImageID != tt.ami {
				t.Errorf("launched %s from %s, want %s from %s", in.Type, in.ImageID, tt.typ, tt.ami)
			}
			if _, err := p.Destroy(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			assertNothingLeft(t, srv, p, id)
		})
	}
}

// TestSpotLaunchLeavesNoRequest: a spot launch makes a one-time spot
// request, tagged with the run like the instance; the fake keeps it, and
// it is closed once the teardown has terminated the instance, so nothing
// tagged with the run is left.
func TestSpotLaunchLeavesNoRequest(t *testing.T) {
	srv := newFake(t, idleBooter)
	p := newProvider(t, srv, map[string]string{"market": "spot"})
	id := identity("aws")
	h, err := p.Create(context.Background(), request(id), nil)
	if err != nil {
		t.Fatal(err)
	}
	spots := srv.SpotRequests()
	if len(spots) != 1 || spots[0].InstanceID != h.ID || spots[0].State != "active" {
		t.Fatalf("spot requests = %+v, want the launch's", spots)
	}
	checkRunTags(t, "spot request", spots[0].Tags, id, request(id).TTL)
	// A one-time request whose instance ends when interrupted: stop or
	// hibernate would keep a volume (and a bill) nobody resumes.
	in, _ := srv.Instance(h.ID)
	for k, want := range map[string]string{
		"InstanceMarketOptions.MarketType":                               "spot",
		"InstanceMarketOptions.SpotOptions.SpotInstanceType":             "one-time",
		"InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior": "terminate",
	} {
		if got := in.Request[k]; got != want {
			t.Errorf("RunInstances %s = %q, want %q", k, got, want)
		}
	}
	if _, err := p.Destroy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if spots := srv.SpotRequests(); spots[0].State != "closed" {
		t.Errorf("spot request after teardown = %+v, want closed", spots[0])
	}
	assertNothingLeft(t, srv, p, id)
}

// TestProbeBinaryDecidesTheArchitecture: with the probe-binary input the
// host runs that binary, so its ELF machine, not this program's, decides
// which types and images fit.
func TestProbeBinaryDecidesTheArchitecture(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "mvm-verify-arm64")
	hdr := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_AARCH64), Version: uint32(elf.EV_CURRENT),
		Ehsize: 64, Phentsize: 56, Shentsize: 64}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS], hdr.Ident[elf.EI_DATA], hdr.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	var b bytes.Buffer
	if err := binenc.Write(&b, binenc.LittleEndian, hdr); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[string]string{
		"c6g.metal": "",
		"c5.metal": `input "instance-type": got "c5.metal", expected an arm64 type such as c6g.metal or c7g.metal; or a probe-binary built for linux/amd64 ` +
			`(an x86_64 type, but the host runs the probe, probe-binary ` + bin + `, built for arm64)`,
	} {
		t.Run(typ, func(t *testing.T) {
			srv := newFake(t, idleBooter)
			p, err := aws.New(options(srv, map[string]string{"instance-type": typ, "probe-binary": bin}, env), aws.Config{})
			if err != nil {
				t.Fatal(err)
			}
			err = p.Preflight(context.Background(), request(identity("aws")))
			if got := fmt.Sprint(err); (want == "" && err != nil) || (want != "" && !strings.HasSuffix(got, want)) {
				t.Errorf("preflight: %v\nwant %q", err, want)
			}
		})
	}
}
