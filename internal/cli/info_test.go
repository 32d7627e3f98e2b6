package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestProbeJSONMatchesThisMachine: what `mvm-verify probe --json` says about
// /dev/kvm agrees with what the test sees opening it and asking the API
// version itself, and seccomp is reported enforced (the child really saw
// EPERM; Linux test machines enforce it).
func TestProbeJSONMatchesThisMachine(t *testing.T) {
	r := runBin(t, cmdEnv(t), "probe", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep struct {
		KVM struct {
			OpenRW     bool `json:"open_rw"`
			APIVersion int  `json:"api_version"`
		} `json:"kvm"`
		Seccomp struct {
			Enforced bool `json:"enforced"`
		} `json:"seccomp"`
		Lane string `json:"lane"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	api := -1
	if fd, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0); err == nil {
		v, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), 0xAE00, 0) // KVM_GET_API_VERSION
		if errno == 0 {
			api = int(v)
		}
		unix.Close(fd)
	}
	if rep.KVM.OpenRW != (api >= 0) {
		t.Errorf("probe says open_rw=%v; the test's own open gave API %d", rep.KVM.OpenRW, api)
	}
	if api >= 0 && rep.KVM.APIVersion != api {
		t.Errorf("probe says API %d, the ioctl says %d", rep.KVM.APIVersion, api)
	}
	if api != 12 && rep.Lane == "kvm" {
		t.Errorf("lane kvm without a working KVM API")
	}
	if !rep.Seccomp.Enforced {
		t.Errorf("seccomp not reported enforced: %s", r.stdout)
	}
}

func TestProvidersAndVersion(t *testing.T) {
	r := runBin(t, cmdEnv(t), "providers", "--json")
	var infos []struct {
		Name    string
		Creates bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &infos); err != nil || r.code != 0 {
		t.Fatalf("providers --json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	names := map[string]bool{}
	for _, in := range infos {
		names[in.Name] = in.Creates
	}
	if creates, ok := names["ssh"]; !ok || creates {
		t.Errorf("ssh missing or said to create hosts: %v", names)
	}
	for _, n := range []string{"local", "aws"} {
		if !names[n] {
			t.Errorf("%s missing or said not to create hosts: %v", n, names)
		}
	}
	v := runBin(t, cmdEnv(t), "version")
	if v.code != 0 || !strings.HasPrefix(v.stdout, "mvm-verify ") {
		t.Errorf("version: exit %d %q", v.code, v.stdout)
	}
}
