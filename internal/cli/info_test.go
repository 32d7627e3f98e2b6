package cli_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestProbeJSONMatchesThisMachine: what `mvm-verify probe --json` says about
// /dev/kvm agrees with what the test sees opening it and asking the API
// version itself, and its seccomp verdict agrees with a filter the test
// installs itself.
func TestProbeJSONMatchesThisMachine(t *testing.T) {
	r := runBin(t, cmdEnv(t), "probe", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep struct {
		KVM struct {
			OpenRW     bool `json:"open_rw"`
			APIVersion int  `json:"api_version"`
			CreateVM   bool `json:"create_vm"`
		} `json:"kvm"`
		Seccomp struct {
			Enforced bool   `json:"enforced"`
			Detail   string `json:"detail"`
		} `json:"seccomp"`
		Lane string `json:"lane"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	// The oracle is the test's own open of /dev/kvm and its ioctls, each
	// result kept apart: open_rw is whether the open worked, whatever the
	// ioctls after it did; api_version and create_vm are compared only when
	// there was a descriptor to ask.
	opened, api, apiOK, createVM := false, 0, false, false
	fd, openErr := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if openErr == nil {
		opened = true
		v, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), 0xAE00, 0) // KVM_GET_API_VERSION
		if errno == 0 {
			api, apiOK = int(v), true
		}
		vm, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), 0xAE01, 0) // KVM_CREATE_VM
		if errno == 0 {
			createVM = true
			unix.Close(int(vm))
		}
		unix.Close(fd)
	}
	if rep.KVM.OpenRW != opened {
		t.Errorf("probe says open_rw=%v; the test's own open(/dev/kvm, O_RDWR) gave error %v", rep.KVM.OpenRW, openErr)
	}
	if !opened && rep.KVM.CreateVM {
		t.Errorf("probe says create_vm=true; the test could not open /dev/kvm: %v", openErr)
	}
	if apiOK && rep.KVM.APIVersion != api {
		t.Errorf("probe says API %d, the test's KVM_GET_API_VERSION says %d", rep.KVM.APIVersion, api)
	}
	// The probe asks for a VM only once the API version has answered.
	if apiOK && rep.KVM.CreateVM != createVM {
		t.Errorf("probe says create_vm=%v; the test's own KVM_CREATE_VM succeeded: %v", rep.KVM.CreateVM, createVM)
	}
	kvmWorks := opened && apiOK && api == 12 && createVM
	if !kvmWorks && rep.Lane == "kvm" {
		t.Errorf("lane kvm, but for the test /dev/kvm opened: %v (%v), API %d (answered: %v), KVM_CREATE_VM: %v",
			opened, openErr, api, apiOK, createVM)
	}
	if kvmWorks && rep.Lane != "kvm" {
		t.Errorf("lane %q, but /dev/kvm opens read-write, speaks API 12 and creates a VM for the test", rep.Lane)
	}
	// The truth is the test's own: a child of it installs a filter that
	// fails getppid with EPERM and calls getppid (seccompEnforcedHere).
	// Kernel support (Seccomp_filters in /proc/self/status) is not it: a
	// container's own filter may still refuse a new one.
	if enforced, saw := seccompEnforcedHere(t); rep.Seccomp.Enforced != enforced {
		t.Errorf("probe says seccomp enforced=%v; the test's own filtered child says %q\n%s", rep.Seccomp.Enforced, saw, r.stdout)
	}
}

func TestProvidersAndVersion(t *testing.T) {
	r := runBin(t, cmdEnv(t), "providers", "--json")
	var infos []struct {
		Name        string
		Creates     bool
		Credentials string
		Inputs      []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &infos); err != nil || r.code != 0 {
		t.Fatalf("providers --json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	names := map[string]bool{}
	for _, in := range infos {
		names[in.Name] = in.Creates
		// aws reads credentials as the AWS CLI does, not only from the
		// access key variables: the list must not send a user with a
		// profile or an instance role off to export keys.
		// The inputs the cycle reads for a cloud host are aws's too.
		if in.Name == "aws" {
			for _, w := range []string{"max-cost", "ssh-source-cidr", "allow-ssh-from-anywhere", "region", "aws-role-to-assume"} {
				if !slices.Contains(in.Inputs, w) {
					t.Errorf("providers --json: aws inputs %v lack %s", in.Inputs, w)
				}
			}
		}
		// local needs sshd and, for a suite user, root: not "nothing".
		if in.Name == "local" && (!strings.Contains(in.Credentials, "openssh-server") || !strings.Contains(in.Credentials, "root")) {
			t.Errorf("providers: local needs %q, which names neither openssh-server nor root", in.Credentials)
		}
		if in.Name == "aws" {
			for _, w := range []string{"AWS_ACCESS_KEY_ID", "AWS_PROFILE", "shared config files", "web identity", "instance profile", "aws-role-to-assume"} {
				if !strings.Contains(in.Credentials, w) {
					t.Errorf("providers: aws needs %q, which does not name %q", in.Credentials, w)
				}
			}
		}
	}
	if creates, ok := names["ssh"]; !ok || creates {
		t.Errorf("ssh missing or said to create hosts: %v", names)
	}
	for _, n := range []string{"local", "aws"} {
		if !names[n] {
			t.Errorf("%s missing or said not to create hosts: %v", n, names)
		}
	}
	// The table is for a terminal: its lines are readable there.
	table := runBin(t, cmdEnv(t), "providers")
	if table.code != 0 {
		t.Fatalf("providers: exit %d\n%s", table.code, table.stderr)
	}
	for _, l := range strings.Split(table.stdout, "\n") {
		if len([]rune(l)) > 100 {
			t.Errorf("providers prints a line of %d characters: %q", len([]rune(l)), l)
		}
	}
	for _, w := range []string{"PROVIDER", "aws", "local", "ssh", "needs: openssh-server"} {
		if !strings.Contains(table.stdout, w) {
			t.Errorf("providers lacks %q:\n%s", w, table.stdout)
		}
	}
	v := runBin(t, cmdEnv(t), "version")
	if v.code != 0 || !strings.HasPrefix(v.stdout, "mvm-verify ") {
		t.Errorf("version: exit %d %q", v.code, v.stdout)
	}
}
