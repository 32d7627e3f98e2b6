package remote

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkUpload times the upload of the binary that ships (mvm-verify
// built as the Dockerfile builds it: CGO_ENABLED=0, -trimpath, -ldflags
// "-s -w"), side by side against ONE test sshd booted once, into the same
// directory:
//
//	sftp                 Client.Upload: SFTP, uncompressed
//	gzip-stream          Client.UploadCompressed: compressed (BestSpeed) as it is sent, staged and unpacked by gzip on the host
//	gzip-precompressed   the same command fed bytes compressed beforehand: what compressing off the critical path would save
//	compress             compress/gzip BestSpeed alone, into memory, no upload
//
// The first three reuse one connection, warmed by the first upload; the
// -fresh-connection ones time the first upload on a new connection, which
// is what a cycle makes (on a machine where the host's sshd grows its
// buffers slowly the first bulk transfer on a connection costs more).
//
// Run with:
//
//	go test -run '^$' -bench Upload -benchtime 20x ./internal/remote
func BenchmarkUpload(b *testing.B) {
	bin := buildShipped(b)
	data, err := os.ReadFile(bin)
	if err != nil {
		b.Fatal(err)
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if _, err := zw.Write(data); err != nil {
		b.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("file %d bytes, %d compressed", len(data), gz.Len())
	h := newBenchHost(b)
	c := h.f.dial(b, DialOptions{})
	ctx := context.Background()
	dst := filepath.Join(scratchDir(b), "bench/mvm-verify")

	b.Run("sftp", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if err := c.Upload(ctx, bytes.NewReader(data), dst, 0o755); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gzip-stream", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if compressed, err := c.UploadCompressed(ctx, bytes.NewReader(data), dst, 0o755); err != nil || !compressed {
				b.Fatal(compressed, err)
			}
		}
	})
	b.Run("gzip-precompressed", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			noGzip, err := c.uploadGzip(ctx, func(w io.Writer) error {
				bw := bufio.NewWriterSize(w, 256<<10)
				if _, err := bw.Write(gz.Bytes()); err != nil {
					return err
				}
				return bw.Flush()
			}, dst, 0o755)
			if err != nil || noGzip {
				b.Fatal(noGzip, err)
			}
		}
	})
	// The cycle uploads once, on a connection that has carried only a few
	// short commands: these dial a fresh connection per upload (and run
	// one short command on it, as the cycle's ready check does), outside
	// the timer.
	fresh := func(b *testing.B, upload func(c *Client) error) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			b.StopTimer()
			fc := h.f.dial(b, DialOptions{})
			if _, err := fc.Run(ctx, RunSpec{Command: "true", NoProfile: true}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := upload(fc); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			fc.Close()
			b.StartTimer()
		}
	}
	b.Run("sftp-fresh-connection", func(b *testing.B) {
		fresh(b, func(c *Client) error { return c.Upload(ctx, bytes.NewReader(data), dst, 0o755) })
	})
	b.Run("gzip-stream-fresh-connection", func(b *testing.B) {
		fresh(b, func(c *Client) error {
			_, err := c.UploadCompressed(ctx, bytes.NewReader(data), dst, 0o755)
			return err
		})
	})
	b.Run("compress", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
			if _, err := zw.Write(data); err != nil {
				b.Fatal(err)
			}
			if err := zw.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// buildShipped builds mvm-verify as the Dockerfile does and returns its
// path.
func buildShipped(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "mvm-verify")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "github.com/tinylabscom/mvm-verify")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build mvm-verify: %v\n%s", err, out)
	}
	return bin
}
