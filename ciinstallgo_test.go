package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// .ci/run's install_go runs, as root, a Go toolchain it downloads from
// whatever GOPROXY names. These tests serve it crafted toolchain zips from a
// file:// proxy (and a loopback http:// one) and check that only a zip
// matching the pinned h1 hash is installed and run.

// zipEntry is one entry of a crafted toolchain zip; a symlink's body is its
// target.
type zipEntry struct {
	name, body string
	mode       os.FileMode
}

func buildZip(t *testing.T, entries []zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		h.SetMode(e.mode)
		f, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hash1 is the checksum database's h1 hash of a module zip's files
// (golang.org/x/mod/sumdb/dirhash.Hash1), written out here so the test
// checks .ci/run's bash version against an independent one.
func hash1(entries []zipEntry) string {
	var lines []string
	for _, e := range entries {
		lines = append(lines, fmt.Sprintf("%x  %s\n", sha256.Sum256([]byte(e.body)), e.name))
	}
	slices.SortFunc(lines, func(a, b string) int {
		return strings.Compare(strings.SplitN(a, "  ", 2)[1], strings.SplitN(b, "  ", 2)[1])
	})
	sum := sha256.Sum256([]byte(strings.Join(lines, "")))
	return "h1:" + base64.StdEncoding.EncodeToString(sum[:])
}

func toolchainArch(t *testing.T) string {
	t.Helper()
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Fatalf("install_go knows Go toolchains for amd64 and arm64 machines; this is %s", runtime.GOARCH)
	}
	return runtime.GOARCH
}

// installGo runs install_go ROOT VERSION from a sourced .ci/run with the
// given extra environment.
func installGo(t *testing.T, root, version string, env ...string) (string, error) {
	t.Helper()
	for _, tool := range []string{"curl", "unzip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (Debian package %s; .ci/run installs it)", tool, tool)
		}
	}
	ciRun, err := filepath.Abs(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", `source "$CI_RUN"; install_go "$1" "$2"`, "bash", root, version)
	cmd.Env = append(os.Environ(), "CI_RUN="+ciRun)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestCIRunInstallGo(t *testing.T) {
	const version = "go1.99.0"
	mod := "v0.0.1-" + version + ".linux-" + toolchainArch(t)
	prefix := "golang.org/toolchain@" + mod + "/"
	// The fake bin/go records each run, so the test sees whether install_go
	// ran a toolchain it should have refused.
	fakeGo := func(extra string) string {
		return "#!/bin/sh\n" + extra + "echo ran >>\"$CI_TEST_RAN\"\necho go version " + version + " linux/" + runtime.GOARCH + "\n"
	}
	good := []zipEntry{
		{prefix + "bin/go", fakeGo(""), 0o755},
		{prefix + "VERSION", version + "\n", 0o644},
		{prefix + "src/fmt/print.go", "package fmt\n", 0o644},
	}
	pin := "golang.org/toolchain " + mod + " " + hash1(good) + "\n"
	goodZip := buildZip(t, good)

	tampered := slices.Clone(good)
	tampered[0].body = fakeGo("# tampered\n")
	truncated := goodZip[:len(goodZip)/2]
	outside := append(slices.Clone(good), zipEntry{"golang.org/evil/bin/go", fakeGo(""), 0o755})
	climbs := append(slices.Clone(good), zipEntry{prefix + "../../escape", "x", 0o644})
	symlink := append(slices.Clone(good), zipEntry{prefix + "bin/gofmt", "/etc/shadow", os.ModeSymlink | 0o777})

	for _, tc := range []struct {
		name       string
		zip        []byte
		sums       string
		parentMode os.FileMode // 0: as t.TempDir makes it
		want       string      // in the output when refused; "" for a good install
	}{
		{name: "good", zip: goodZip, sums: pin},
		{name: "tampered", zip: buildZip(t, tampered), sums: pin, want: "its hash is h1:"},
		{name: "truncated", zip: truncated, sums: pin, want: "not a readable zip"},
		{name: "outside", zip: buildZip(t, outside), sums: pin, want: "golang.org/evil/bin/go, outside " + prefix},
		{name: "climbs", zip: buildZip(t, climbs), sums: pin, want: "climbs out of"},
		{name: "symlink", zip: buildZip(t, symlink), sums: pin, want: "symlinks"},
		{name: "no pin", zip: goodZip, sums: "# none\n", want: "update .ci/go-toolchain.sum"},
		{name: "parent writable by others", zip: goodZip, sums: pin, parentMode: 0o777, want: "writable by group or others"},
		{name: "parent sticky and writable by others", zip: goodZip, sums: pin, parentMode: 0o1777, want: "writable by group or others"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			proxy := filepath.Join(dir, "proxy")
			if err := os.MkdirAll(filepath.Join(proxy, "golang.org/toolchain/@v"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(proxy, "golang.org/toolchain/@v", mod+".zip"), tc.zip, 0o644); err != nil {
				t.Fatal(err)
			}
			sums := filepath.Join(dir, "go-toolchain.sum")
			writeFile(t, sums, tc.sums)
			ran := filepath.Join(dir, "ran")
			parent := filepath.Join(dir, "usr-local")
			root := filepath.Join(parent, "go")
			writeFile(t, filepath.Join(root, "OLD"), "the toolchain before\n")
			if tc.parentMode != 0 {
				if err := os.Chmod(parent, tc.parentMode); err != nil {
					t.Fatal(err)
				}
			}

			out, err := installGo(t, root, version,
				"GOPROXY=file://"+proxy+",direct", "CI_GO_SUMS="+sums, "CI_TEST_RAN="+ran)

			entries, rerr := os.ReadDir(parent)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if len(entries) != 1 || entries[0].Name() != "go" {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("after install_go, %s holds %v; want only go (no temporary directory left)", parent, names)
			}
			_, ranErr := os.Stat(ran)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("install_go of a zip matching its pin: %v\n%s", err, out)
				}
				b, err := os.ReadFile(filepath.Join(root, "bin", "go"))
				if err != nil || string(b) != good[0].body {
					t.Errorf("after install_go, %s/bin/go = %q, %v; want the zip's bin/go", root, b, err)
				}
				if _, err := os.Stat(filepath.Join(root, "OLD")); err == nil {
					t.Errorf("after install_go, %s still holds the old toolchain's OLD", root)
				}
				if ranErr != nil {
					t.Errorf("install_go did not run the new bin/go before putting it in place")
				}
				return
			}
			if err == nil {
				t.Fatalf("install_go of the %s zip succeeded; want refused\n%s", tc.name, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("install_go of the %s zip said %q; want it to say %q", tc.name, out, tc.want)
			}
			if ranErr == nil {
				t.Errorf("install_go ran the %s zip's bin/go", tc.name)
			}
			got, err := os.ReadDir(root)
			if err != nil || len(got) != 1 || got[0].Name() != "OLD" {
				t.Errorf("after a refused install_go, %s holds %v, %v; want only the old OLD", root, got, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "escape")); err == nil {
				t.Errorf("install_go of the %s zip wrote %s/escape", tc.name, dir)
			}
		})
	}
}

// A GOPROXY with credentials works, and they never reach the output,
// whether the install succeeds or fails.
func TestCIRunInstallGoRedactsProxyCredentials(t *testing.T) {
	const user, token = "ci", "s3cret-token"
	arch := toolchainArch(t)
	mod := func(version string) string { return "v0.0.1-" + version + ".linux-" + arch }
	good := []zipEntry{
		{"golang.org/toolchain@" + mod("go1.99.0") + "/bin/go", "#!/bin/sh\necho go version go1.99.0\n", 0o755},
	}
	body := buildZip(t, good)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != token {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/golang.org/toolchain/@v/"+mod("go1.99.0")+".zip" {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	proxy := strings.Replace(srv.URL, "http://", "http://"+user+":"+token+"@", 1)
	sums := filepath.Join(t.TempDir(), "go-toolchain.sum")
	writeFile(t, sums, "golang.org/toolchain "+mod("go1.99.0")+" "+hash1(good)+"\n"+
		"golang.org/toolchain "+mod("go1.99.1")+" "+hash1(good)+"\n")
	redacted := "http://REDACTED@" + strings.TrimPrefix(srv.URL, "http://")

	root := filepath.Join(t.TempDir(), "go")
	out, err := installGo(t, root, "go1.99.0", "GOPROXY="+proxy, "CI_GO_SUMS="+sums)
	if err != nil {
		t.Fatalf("install_go from a proxy with credentials: %v\n%s", err, out)
	}
	if strings.Contains(out, token) || !strings.Contains(out, redacted) {
		t.Errorf("install_go said %q; want the proxy shown as %s, without its token", out, redacted)
	}
	out, err = installGo(t, root, "go1.99.1", "GOPROXY="+proxy, "CI_GO_SUMS="+sums)
	if err == nil {
		t.Fatalf("install_go of a release the proxy does not have succeeded\n%s", out)
	}
	if strings.Contains(out, token) || !strings.Contains(out, redacted+"/golang.org/toolchain/@v/"+mod("go1.99.1")+".zip") {
		t.Errorf("install_go failing said %q; want the URL shown with %s, without its token", out, redacted)
	}
}

func TestCIRunRedactURL(t *testing.T) {
	ciRun, err := filepath.Abs(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"https://u:tok@proxy.example/mod": "https://REDACTED@proxy.example/mod",
		"https://a@b:p@w@proxy.example":   "https://REDACTED@proxy.example",
		"https://proxy.example/a@b/c":     "https://proxy.example/a@b/c",
		"file:///srv/proxy":               "file:///srv/proxy",
		"u:tok@proxy.example/x":           "REDACTED@proxy.example/x",
		"https://proxy.golang.org":        "https://proxy.golang.org",
	} {
		// $0 must not be .ci/run itself: the script takes that for being
		// run, not sourced, and runs all of CI.
		cmd := exec.Command("bash", "-c", `source "$CI_RUN"; redact_url "$1"`, "bash", in)
		cmd.Env = append(os.Environ(), "CI_RUN="+ciRun)
		out, err := cmd.CombinedOutput()
		if got := strings.TrimSpace(string(out)); err != nil || got != want {
			t.Errorf("redact_url %s = %q, %v; want %s", in, got, err, want)
		}
	}
}

// The toolchain go.mod asks for has pinned hashes for both machines CI
// runs on, so .ci/run can install it: a go.mod bump must update
// .ci/go-toolchain.sum too.
func TestCIGoToolchainPinned(t *testing.T) {
	out, err := exec.Command("bash", "-c", `source .ci/run; go_wanted`).CombinedOutput()
	if err != nil {
		t.Fatalf("go_wanted: %v\n%s", err, out)
	}
	version := strings.TrimSpace(string(out))
	sums, err := os.ReadFile(".ci/go-toolchain.sum")
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		mod := "v0.0.1-" + version + ".linux-" + arch
		found := false
		for _, line := range strings.Split(string(sums), "\n") {
			f := strings.Fields(line)
			if len(f) == 3 && f[0] == "golang.org/toolchain" && f[1] == mod && strings.HasPrefix(f[2], "h1:") && len(f[2]) == len("h1:")+44 {
				found = true
			}
		}
		if !found {
			t.Errorf(".ci/go-toolchain.sum has no h1 line for golang.org/toolchain %s (go.mod asks for %s); add the one https://sum.golang.org/lookup/golang.org/toolchain@%s gives", mod, version, mod)
		}
	}
}
