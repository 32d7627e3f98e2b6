package remote

// TEMPORARY: a minimal real sshd until internal/testhost lands; the tests
// only use startHost and hostUser, so switching is confined to this file.

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type hostUser struct {
	Name           string
	AuthorizedKeys []string
	Sudo           bool
}

type testHost struct {
	addr    string
	port    int
	hostKey string
}

func (h *testHost) Addr() string    { return h.addr }
func (h *testHost) Port() int       { return h.port }
func (h *testHost) HostKey() string { return h.hostKey }

var userSeq atomic.Int64

// uniqueUser returns a user name unique to this test process.
func uniqueUser(prefix string) string {
	return fmt.Sprintf("%s%d%d", prefix, os.Getpid()%10000, userSeq.Add(1))
}

func startHost(t testing.TB, users []hostUser, hostKeyPEM []byte, port int) *testHost {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run sshd and create users")
	}
	dir := t.TempDir()
	// sshd reads authorized_keys as the user: the path must be traversable.
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	os.MkdirAll("/run/sshd", 0o755)
	keyPath := filepath.Join(dir, "host")
	os.WriteFile(keyPath, hostKeyPEM, 0o600)
	pub, err := exec.Command("ssh-keygen", "-y", "-f", keyPath).Output()
	if err != nil {
		t.Fatal(err)
	}
	akDir := filepath.Join(dir, "ak")
	os.MkdirAll(akDir, 0o755)
	for _, u := range users {
		if out, err := exec.Command("useradd", "-m", "-p", "*", "-s", "/bin/bash", u.Name).CombinedOutput(); err != nil {
			t.Fatalf("useradd: %v %s", err, out)
		}
		name := u.Name
		t.Cleanup(func() { exec.Command("userdel", "-r", "-f", name).Run() })
		os.WriteFile(filepath.Join(akDir, u.Name), []byte(strings.Join(u.AuthorizedKeys, "\n")+"\n"), 0o644)
		if u.Sudo {
			f := "/etc/sudoers.d/" + u.Name
			os.WriteFile(f, []byte(u.Name+" ALL=(ALL) NOPASSWD:ALL\n"), 0o440)
			t.Cleanup(func() { os.Remove(f) })
		}
	}
	if port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	cfg := fmt.Sprintf(`ListenAddress 127.0.0.1:%d
HostKey %s
AuthorizedKeysFile %s/%%u
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PidFile none
Subsystem sftp internal-sftp
LogLevel VERBOSE
`, port, keyPath, akDir)
	cfgPath := filepath.Join(dir, "sshd_config")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	var log bytes.Buffer
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", cfgPath)
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			c.Close()
			break
		}
		if i > 200 {
			t.Fatalf("sshd did not listen: %s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &testHost{addr: "127.0.0.1", port: port, hostKey: strings.TrimSpace(string(pub))}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
