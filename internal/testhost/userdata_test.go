package testhost

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func indent(s, pad string) string {
	return pad + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+pad)
}

func TestOptionsFromUserData(t *testing.T) {
	hostPEM, hostLine := HostKeyPair(t)
	const userKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIE5dw6ofRdfVqNUZsNMfszLjYqRtO43ol32D1uPybOU"
	const rootKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c"
	ud := fmt.Sprintf(`#cloud-config
users:
  - default
  - name: mvm
    groups: [sudo, kvm]
    shell: /bin/bash
    sudo: ALL=(ALL) NOPASSWD:ALL
    lock_passwd: true
    ssh_authorized_keys:
      - %[1]s
  - name: plain
    groups: "docker, kvm"
    sudo: false
disable_root: false
ssh_authorized_keys:
  - %[2]s
ssh_keys:
  ed25519_private: |
%[3]s
  ed25519_public: %[4]s
packages: [git]
write_files:
  - path: /etc/motd
    content: hello
  - path: /root/.ssh/authorized_keys
    encoding: b64
    content: %[5]s
runcmd:
  - touch /var/lib/ready
`, userKey, rootKey, indent(string(hostPEM), "    "), hostLine,
		base64.StdEncoding.EncodeToString([]byte("# comment\n"+userKey+"\n")))
	got, err := OptionsFromUserData([]byte(ud))
	if err != nil {
		t.Fatal(err)
	}
	if string(got.HostKeyPEM) != string(hostPEM) {
		t.Errorf("host key PEM not taken from ssh_keys.ed25519_private")
	}
	want := []User{
		{Name: "mvm", AuthorizedKeys: []string{userKey}, Groups: []string{"sudo", "kvm"}, Sudo: true},
		{Name: "plain", Groups: []string{"docker", "kvm"}},
		{Name: "root", AuthorizedKeys: []string{rootKey, userKey}},
	}
	if !reflect.DeepEqual(got.Users, want) {
		t.Errorf("users\n got %+v\nwant %+v", got.Users, want)
	}
}

func TestOptionsFromUserDataRootDisabled(t *testing.T) {
	got, err := OptionsFromUserData([]byte("#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAA]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Users) != 0 {
		t.Errorf("users %+v: disable_root defaults to true, so root gets no keys", got.Users)
	}
}

func TestOptionsFromUserDataErrors(t *testing.T) {
	for _, tc := range []struct{ name, ud, want string }{
		{"not cloud-config", "#!/bin/sh\necho hi\n", "#cloud-config"},
		{"bad yaml", "#cloud-config\nusers: [\n", "invalid YAML"},
		{"nameless user", "#cloud-config\nusers:\n  - groups: [a]\n", "users[0]: no name"},
		{"bad groups", "#cloud-config\nusers:\n  - name: a\n    groups: {x: 1}\n", "groups"},
		{"bad encoding", "#cloud-config\nwrite_files:\n  - path: /root/.ssh/authorized_keys\n    encoding: gzip\n    content: x\n", `encoding "gzip"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OptionsFromUserData([]byte(tc.ud))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestBootFromUserData boots a host the way a fake cloud does and logs in
// as the user and as root with the keys the user data gave them.
func TestBootFromUserData(t *testing.T) {
	user := tempUser(t)
	signer, line := ClientKey(t)
	hostPEM, hostLine := HostKeyPair(t)
	ud := fmt.Sprintf("#cloud-config\nusers:\n  - name: %s\n    sudo: ALL=(ALL) NOPASSWD:ALL\n    ssh_authorized_keys: [%q]\n"+
		"write_files:\n  - path: /root/.ssh/authorized_keys\n    content: |\n      %s\n"+
		"ssh_keys:\n  ed25519_private: |\n%s\n  ed25519_public: %s\n", user, line, line, indent(string(hostPEM), "    "), hostLine)
	opts, err := OptionsFromUserData([]byte(ud))
	if err != nil {
		t.Fatal(err)
	}
	h := Start(t, opts)
	for _, u := range []string{user, "root"} {
		c, err := dial(t, h, u, signer, hostLine)
		if err != nil {
			t.Fatalf("login as %s: %v", u, err)
		}
		if got, ok := Exec(t, c, "id -un"); !ok || got != u {
			t.Errorf("id -un = %q, want %s", got, u)
		}
		c.Close()
	}
}
