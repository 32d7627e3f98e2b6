package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuiltInKVMBootstrapWithoutUdev runs the built-in suite's first
// bootstrap command (the kvm group and udev rule) with a real sh on a host
// that has no udev rules directory, as a container or minimal VM has. Its
// paths under /etc/udev are moved into a temporary root, and the commands
// that would change this machine's users and /dev/kvm are stand-ins that
// record their arguments.
func TestBuiltInKVMBootstrapWithoutUdev(t *testing.T) {
	s, err := DefaultSuite().Expand(Vars{Repo: "https://example.com/mvm.git", Ref: "0123456789abcdef0123456789abcdef01234567"})
	if err != nil {
		t.Fatal(err)
	}
	var script string
	for _, c := range s.Bootstrap {
		if strings.Contains(c, "/etc/udev/rules.d/") {
			script = c
			break
		}
	}
	if script == "" {
		t.Fatal("no bootstrap command of the built-in suite writes the kvm udev rule")
	}

	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	script = strings.ReplaceAll(script, "/etc/udev", filepath.Join(root, "etc/udev"))

	bin := t.TempDir()
	calls := filepath.Join(root, "calls")
	for _, name := range []string{"getent", "groupadd", "usermod", "chgrp", "chmod"} {
		stub := "#!/bin/sh\necho \"" + name + " $*\" >>" + calls + "\n"
		if name == "getent" { // no kvm group yet: groupadd must run
			stub += "exit 2\n"
		}
		if err := os.WriteFile(filepath.Join(bin, name), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal("no sh on this machine (Debian package dash)")
	}
	cmd := exec.Command(sh, "-ec", script)
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the kvm bootstrap fails on a host without /etc/udev: %v\n%s\n--- script ---\n%s", err, out, script)
	}

	rule, err := os.ReadFile(filepath.Join(root, "etc/udev/rules.d/65-mvm-kvm.rules"))
	if err != nil {
		t.Fatalf("no udev rule written: %v", err)
	}
	if !strings.Contains(string(rule), `KERNEL=="kvm", GROUP="kvm", MODE="0660"`) {
		t.Errorf("udev rule = %q", rule)
	}
	log, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"groupadd --system kvm", "usermod -aG kvm " + s.User} {
		if !strings.Contains(string(log), want+"\n") {
			t.Errorf("the bootstrap did not run %q; it ran:\n%s", want, log)
		}
	}
}
