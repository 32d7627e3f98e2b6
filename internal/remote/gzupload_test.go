package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// compressibleData is n bytes, half random, half zeros, like an
// executable that compresses to about half.
func compressibleData(n int) []byte {
	data := make([]byte, n)
	for i := 0; i < n; i += 8 << 10 {
		rand.Read(data[i:min(i+4<<10, n)])
	}
	return data
}

// landed checks that dst holds data with mode (octal, as stat prints it)
// and that its directory holds nothing else: no temporary file.
func landed(t *testing.T, c *Client, dst string, data []byte, mode string) {
	t.Helper()
	sum := sha256.Sum256(data)
	res := run(t, c, RunSpec{Command: "sha256sum " + Quote(dst) + " | cut -d' ' -f1; stat -c %a " + Quote(dst) + "; ls -A " + Quote(filepath.Dir(dst))})
	want := hex.EncodeToString(sum[:]) + "\n" + mode + "\n" + filepath.Base(dst) + "\n"
	if string(res.Output) != want {
		t.Errorf("remote file: %q, want %q (content hash, mode, no temp files left)", res.Output, want)
	}
}

func TestUploadCompressed(t *testing.T) {
	f := newFixture(t)
	c := f.dial(t, fast())
	data := compressibleData(3<<20 + 17)
	dst := filepath.Join(f.scratch, "new/dir/mvm-verify")

	compressed, err := c.UploadCompressed(testContext(t), bytes.NewReader(data), dst, 0o750)
	if err != nil {
		t.Fatal(err)
	}
	if !compressed {
		t.Error("compressed = false on a host with gzip, want the bytes sent compressed")
	}
	landed(t, c, dst, data, "750")

	// Replacing a file, including one that is executing, works.
	run(t, c, RunSpec{Command: "cp /bin/sleep " + Quote(dst) + " && (" + Quote(dst) + " 30 >/dev/null 2>&1 &) && sleep 0.2"})
	v2 := []byte("#!/bin/sh\necho v2\n")
	if _, err := c.UploadCompressed(testContext(t), bytes.NewReader(v2), dst, 0o755); err != nil {
		t.Fatalf("replace a running binary: %v", err)
	}
	if res := run(t, c, RunSpec{Command: Quote(dst)}); string(res.Output) != "v2\n" {
		t.Errorf("replaced file runs as %q", res.Output)
	}
	run(t, c, RunSpec{Command: "pkill -f " + Quote(dst) + " || true"})
	landed(t, c, dst, v2, "755")

	// An empty file is a file too.
	empty := filepath.Join(f.scratch, "empty/file")
	if _, err := c.UploadCompressed(testContext(t), bytes.NewReader(nil), empty, 0o600); err != nil {
		t.Fatal(err)
	}
	landed(t, c, empty, nil, "600")

	for _, bad := range []string{"relative/path", "/a/../b", "/"} {
		if _, err := c.UploadCompressed(testContext(t), strings.NewReader("x"), bad, 0o644); err == nil {
			t.Errorf("UploadCompressed to %q accepted", bad)
		}
	}
	if _, err := c.UploadCompressed(testContext(t), strings.NewReader("x"), "/proc/forbidden/x", 0o644); err == nil || !strings.Contains(err.Error(), "/proc/forbidden") {
		t.Errorf("UploadCompressed into /proc: err = %v, want one naming the directory", err)
	}
	// A directory at the target is not replaced, nor filled.
	isDir := filepath.Join(f.scratch, "isdir")
	run(t, c, RunSpec{Command: "mkdir " + Quote(isDir)})
	if _, err := c.UploadCompressed(testContext(t), strings.NewReader("x"), isDir, 0o644); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("UploadCompressed onto a directory: err = %v, want it refused", err)
	}
	if res := run(t, c, RunSpec{Command: "ls -A " + Quote(isDir) + "; ls -A " + Quote(f.scratch) + " | grep -c upload || true"}); string(res.Output) != "0\n" {
		t.Errorf("after an upload onto a directory: %q, want the directory empty and no temporary file", res.Output)
	}
}

// A host without gzip (here: the command to decompress with is one no
// host has) takes the upload over SFTP: the file lands all the same.
func TestUploadCompressedFallsBackWithoutGzip(t *testing.T) {
	f := newFixture(t)
	c := f.dial(t, fast())
	c.gzipName = "mvm-verify-test-no-such-gzip"
	data := compressibleData(3<<20 + 17)
	src := bytes.NewReader(data)
	dst := filepath.Join(f.scratch, "fallback/mvm-verify")

	compressed, err := c.UploadCompressed(testContext(t), src, dst, 0o750)
	if err != nil {
		t.Fatal(err)
	}
	if compressed {
		t.Error("compressed = true from a host without gzip")
	}
	landed(t, c, dst, data, "750")
}

func TestUploadCompressedFailedReaderLeavesNothing(t *testing.T) {
	f := newFixture(t)
	c := f.dial(t, fast())
	dir := filepath.Join(f.scratch, "up")
	src := &seekless{io.MultiReader(bytes.NewReader(compressibleData(1<<20)), errReader{})}
	if _, err := c.UploadCompressed(testContext(t), src, dir+"/file", 0o644); err == nil || !strings.Contains(err.Error(), "source broke") {
		t.Fatalf("err = %v, want the reader's error", err)
	}
	if res := run(t, c, RunSpec{Command: "ls -A " + Quote(dir)}); len(res.Output) != 0 {
		t.Errorf("left behind: %q", res.Output)
	}
}

// seekless is a reader whose Seek only reports offset 0: a source read
// once.
type seekless struct{ io.Reader }

func (seekless) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 {
		return 0, errors.New("seekless: cannot seek")
	}
	return 0, nil
}

// compressedUntilCancelled is uploadUntilCancelled for UploadCompressed.
func compressedUntilCancelled(t *testing.T, c *Client, dst string, between func()) error {
	t.Helper()
	return untilCancelled(t, "UploadCompressed", func(ctx context.Context, src io.Reader) error {
		_, err := c.UploadCompressed(ctx, &seekless{src}, dst, 0o755)
		return err
	}, between)
}

// A cancelled compressed upload to a live host returns the cancel, keeps
// the connection and leaves no temporary file.
func TestUploadCompressedCancelLeavesNothing(t *testing.T) {
	f := newFixture(t)
	c := f.dial(t, fast())
	dir := filepath.Join(f.scratch, "up")

	err := compressedUntilCancelled(t, c, filepath.Join(dir, "big"), func() {
		// The upload is under way on the host: its temporary file is there.
		waitFor(t, c, "ls -A "+Quote(dir)+" | grep -q upload")
	})
	cancelledCleanly(t, c, "UploadCompressed", err, dir)
}

// TestUploadCompressedCancelOnFrozenHost is TestUploadCancelOnFrozenHost
// for UploadCompressed: a host that stopped answering mid-transfer is
// given up on within CancelGrace, the connection closed.
func TestUploadCompressedCancelOnFrozenHost(t *testing.T) {
	f := newFixture(t)
	o := fast()
	o.Keepalive = -1 // only the cancel may notice the frozen host
	o.CancelGrace = 200 * time.Millisecond
	c := f.dial(t, o)

	err := compressedUntilCancelled(t, c, filepath.Join(f.scratch, "big"), func() { freezeServer(t, c) })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("UploadCompressed cancelled on a frozen host: err = %v, want context.Canceled", err)
	}
	if !errors.Is(c.Err(), ErrUnresponsive) {
		t.Errorf("Client.Err() = %v, want ErrUnresponsive: the connection to a host that held the upload stays open", c.Err())
	}
}

// waitFor runs check on the host until it exits 0.
func waitFor(t *testing.T, c *Client, check string) {
	t.Helper()
	for {
		res, err := c.Run(testContext(t), RunSpec{Command: check, NoProfile: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.OK() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
