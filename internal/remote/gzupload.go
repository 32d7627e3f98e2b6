package remote

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"golang.org/x/crypto/ssh"
)

// noGzipExit is the exit status of the decompressing command on a host
// without gzip: it exits with it before it reads or creates anything.
const noGzipExit = 97

// UploadCompressed is Upload with the bytes gzip-compressed on the wire:
// it compresses src as it sends it (compress/gzip, BestSpeed) into a
// session whose command, a plain `bash -c` without a login, stages the
// stream next to remotePath and then decompresses it with the host's gzip
// into a temporary file there (the name Upload uses), sets its mode and
// renames it into place (gunzipScript). So, as with Upload, remotePath
// never holds a half-written file, and a failed upload leaves no temporary
// file. An executable compresses to less than half, and
// on a link slower than compression (a runner to a cloud host) the upload
// takes as much less. Unlike SFTP, the command starts in the login user's
// shell, as every command does: a login user whose startup files are slow
// (root's, on this project's test machine) pays them once more.
//
// A host without gzip takes the bytes over SFTP instead (Upload): src is
// read again from where it was when UploadCompressed was called, so it must
// seek. compressed says which way the bytes went. Cancellation is Upload's:
// the session is closed, a host that has not let go within CancelGrace of
// the cancel is taken for dead (Err then wraps ErrUnresponsive), and the
// error wraps the cancel's cause.
func (c *Client) UploadCompressed(ctx context.Context, src io.ReadSeeker, remotePath string, mode os.FileMode) (compressed bool, err error) {
	if err := checkUpload(remotePath, mode); err != nil {
		return false, err
	}
	start, err := src.Seek(0, io.SeekCurrent)
	if err != nil {
		return false, fmt.Errorf("upload %s: find the source's offset: %w", remotePath, err)
	}
	noGzip, err := c.uploadGzip(ctx, func(w io.Writer) error {
		// Whole packets: compress/gzip writes a few hundred bytes at a
		// time, and a packet each makes the host's side crawl.
		bw := bufio.NewWriterSize(w, 256<<10)
		zw, err := gzip.NewWriterLevel(bw, gzip.BestSpeed)
		if err != nil {
			return err
		}
		if _, err := io.Copy(zw, src); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		return bw.Flush()
	}, remotePath, mode)
	if !noGzip {
		return err == nil, err
	}
	c.opts.Logger.Debug("the host has no gzip: uploading over SFTP uncompressed", "file", remotePath)
	if _, err := src.Seek(start, io.SeekStart); err != nil {
		return false, fmt.Errorf("upload %s: rewind the source for SFTP (the host has no gzip): %w", remotePath, err)
	}
	return false, c.Upload(ctx, src, remotePath, mode)
}

// uploadGzip runs a command on the host that decompresses what write
// writes to it into remotePath, as UploadCompressed says. noGzip is set,
// with a nil error, when the host has no gzip and nothing was created.
func (c *Client) uploadGzip(ctx context.Context, write func(io.Writer) error, remotePath string, mode os.FileMode) (noGzip bool, _ error) {
	what := "upload " + remotePath
	if ctx.Err() != nil {
		return false, fmt.Errorf("%s: %w", what, context.Cause(ctx))
	}
	fail := func(step string, err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %s: %w", what, step, context.Cause(ctx))
		}
		return c.transportErr(ctx, what+": "+step, err)
	}
	tmp := tempName(remotePath)
	cmd, err := shellCommand(c.target.User, false, "", gunzipScript(c.gzipName, remotePath, tmp, mode), "", true)
	if err != nil {
		return false, err
	}
	sess, err := c.newSession(ctx)
	if err != nil {
		return false, fail("open session", err)
	}
	defer sess.Close()
	returned := make(chan struct{})
	defer close(returned)
	stop := context.AfterFunc(ctx, func() { c.abandon(sess, returned, what) })
	defer stop()

	stdin, err := sess.StdinPipe()
	if err != nil {
		return false, fail("start gzip on the host", err)
	}
	out := newOutput(16<<10, nil, nil)
	sess.Stdout, sess.Stderr = out, out
	if err := sess.Start(cmd); err != nil {
		return false, fail("start gzip on the host", err)
	}
	// The host's side ends with the stream: Wait returns once it has
	// taken the whole stream, or once it stopped taking it (no gzip, a
	// failure), which also fails a write still blocked on the channel.
	sink := &sinkWriter{w: stdin}
	wrote := make(chan error, 1)
	go func() {
		err := write(sink)
		if err == nil {
			err = stdin.Close() // EOF: the stream is whole
		} else {
			// Cut short without an EOF, so gzip on the host, which
			// needs the stream's trailer, can never take it as whole.
			sess.Close()
		}
		wrote <- err
	}()
	waitErr := sess.Wait()
	writeErr := <-wrote

	var exit *ssh.ExitError
	hasExit := errors.As(waitErr, &exit)
	switch {
	case waitErr == nil:
		return false, nil
	case hasExit && exit.ExitStatus() == noGzipExit:
		return true, nil
	}
	if ctx.Err() != nil {
		// As in Upload: whether the host still answers decides whether
		// the connection is worth keeping for the cleanups after it.
		c.checkAnswers(what)
	}
	switch {
	case ctx.Err() != nil:
		err = fail("write", context.Cause(ctx))
	case writeErr != nil && !errors.Is(writeErr, sink.err):
		err = fail("write", writeErr) // the source's error, not the channel's
	case hasExit:
		b, _ := out.snapshot()
		err = fmt.Errorf("%s: decompressing on the host exited %d: %s", what, exit.ExitStatus(), bytes.TrimSpace(b))
	default:
		err = fail("decompress on the host", waitErr)
	}
	c.removeLeftover(ctx, tmp, tmp+".gz")
	return false, err
}

// sinkWriter remembers the error its writer returned, so an error that
// came back through it can be told from the source's own.
type sinkWriter struct {
	w   io.Writer
	err error
}

func (s *sinkWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil && s.err == nil {
		s.err = err
	}
	return n, err
}

// gunzipScript takes the compressed stream on its stdin into tmp.gz, then
// decompresses that with gzipName (gzip when empty) into tmp, sets mode and
// renames tmp to dst, creating dst's directory; on a failure it removes
// both temporary files. Without the command it exits noGzipExit before it
// creates anything. The temporary files are created exclusively
// (noclobber), as Upload's O_EXCL does, and a directory at dst is refused
// as SFTP's rename refuses it (mv would move tmp into it). A stream cut
// short ends cat all the same, but gzip then finds no trailer and fails.
//
// The stream is staged in a file rather than piped into gzip: sshd holds
// what the command has not yet read in a buffer that it grows a few kB at
// a time, copying it each time. cat reads as fast as the stream comes, so
// the buffer stays small; gzip -d, about as fast as a loopback stream
// comes, let it pile up to MBs, and on a VM where fresh memory is
// expensive (this project's kvm-pvm test machine) growing it cost about a
// second on the first upload of a connection, in half the legs or more
// (docs/performance.md). The price is the decompression after the
// transfer instead of during it: about 0.13 s for the 16 MB binary.
//
// Builtins where they do, so the commands that fork are cat, gzip, rm,
// chmod and mv (and mkdir for a new directory).
func gunzipScript(gzipName, dst, tmp string, mode os.FileMode) string {
	if gzipName == "" {
		gzipName = "gzip"
	}
	z := Quote(gzipName)
	return fmt.Sprintf(`command -v %s >/dev/null 2>&1 || exit %d
dir=%s tmp=%s dst=%s
[ -d "$dir" ] || mkdir -p -- "$dir" || exit
if [ -d "$dst" ]; then echo "$dst is a directory" >&2; exit 1; fi
set -C
exec 3>"$tmp" || exit
exec 4>"$tmp.gz" || { rc=$?; rm -f -- "$tmp"; exit "$rc"; }
{ cat >&4 && exec 4>&- && %s -dc <"$tmp.gz" >&3 && exec 3>&- && rm -f -- "$tmp.gz" && chmod %o -- "$tmp" && mv -f -- "$tmp" "$dst"; } || { rc=$?; rm -f -- "$tmp" "$tmp.gz"; exit "$rc"; }`,
		z, noGzipExit, Quote(path.Dir(dst)), Quote(tmp), Quote(dst), z, uint32(mode.Perm()))
}
