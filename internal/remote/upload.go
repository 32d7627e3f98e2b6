package remote

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Upload writes r to remotePath over SFTP with the given mode, creating the
// parent directory. It writes a temporary file next to the target and
// renames it into place, so a running binary at remotePath is replaced, not
// overwritten mid-read, and a failed upload leaves no partial file.
//
// sftp has no context, so a cancelled ctx closes the SFTP session, which
// fails whatever call is blocked. As with Run, a host that has not let go
// of the upload within CancelGrace of the cancel is taken for dead: the
// whole connection is closed (Err then wraps ErrUnresponsive), so neither
// the upload nor the cleanups after it wait for the keepalive to notice.
func (c *Client) Upload(ctx context.Context, r io.Reader, remotePath string, mode os.FileMode) error {
	if err := checkUpload(remotePath, mode); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("upload %s: %w", remotePath, context.Cause(ctx))
	}
	fail := func(what string, err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("upload %s: %s: %w", remotePath, what, context.Cause(ctx))
		}
		return c.transportErr(ctx, fmt.Sprintf("upload %s: %s", remotePath, what), err)
	}
	sess, err := c.newSession(ctx)
	if err != nil {
		return fail("open session", err)
	}
	// Closing the session, not the sftp client: the client's Close waits
	// for the server to hang up, which a frozen host never does.
	defer sess.Close()
	returned := make(chan struct{})
	defer close(returned)
	stop := context.AfterFunc(ctx, func() { c.abandon(sess, returned, "upload "+remotePath) })
	defer stop()

	tmp, uerr := c.upload(sess, r, remotePath, mode)
	if uerr == nil {
		return nil
	}
	if ctx.Err() != nil {
		// Closing the session locally may end the upload at once even on
		// a frozen host; whether the host still answers decides if the
		// connection is worth keeping for the cleanups after it.
		c.checkAnswers("upload " + remotePath)
	}
	err = fail(uerr.what, uerr.err)
	if tmp != "" {
		c.removeLeftover(ctx, tmp)
	}
	return err
}

// checkUpload checks an upload's target path and mode.
func checkUpload(remotePath string, mode os.FileMode) error {
	if !path.IsAbs(remotePath) || path.Clean(remotePath) != remotePath || remotePath == "/" {
		return fmt.Errorf("upload: remote path %q: want a clean absolute file path such as /usr/local/bin/mvm-verify", remotePath)
	}
	if mode&^os.ModePerm != 0 {
		return fmt.Errorf("upload %s: mode %v: want permission bits only (e.g. 0755)", remotePath, mode)
	}
	return nil
}

// tempName is the temporary file an upload to remotePath writes before it
// renames it into place: hidden, next to the target (so the rename stays
// on one file system), with a random suffix.
func tempName(remotePath string) string {
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	return path.Join(path.Dir(remotePath), "."+path.Base(remotePath)+".upload-"+hex.EncodeToString(suffix[:]))
}

// uploadError names the step of an upload that failed.
type uploadError struct {
	what string
	err  error
}

// upload runs the SFTP part of Upload on sess. tmp is the temporary file it
// created, for the caller to remove when the upload failed.
func (c *Client) upload(sess *ssh.Session, r io.Reader, remotePath string, mode os.FileMode) (tmp string, _ *uploadError) {
	wr, err := sess.StdinPipe()
	if err != nil {
		return "", &uploadError{"start sftp", err}
	}
	rd, err := sess.StdoutPipe()
	if err != nil {
		return "", &uploadError{"start sftp", err}
	}
	if err := sess.RequestSubsystem("sftp"); err != nil {
		return "", &uploadError{"start sftp", err}
	}
	sc, err := sftp.NewClientPipe(rd, wr, sftp.UseConcurrentWrites(true))
	if err != nil {
		return "", &uploadError{"start sftp", err}
	}
	// sess.Close (deferred by Upload) ends the client's reader; closing the
	// client here only sends the server its EOF.
	defer wr.Close()

	dir := path.Dir(remotePath)
	if err := sc.MkdirAll(dir); err != nil {
		return "", &uploadError{"create " + dir, err}
	}
	tmp = tempName(remotePath)
	f, err := sc.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return "", &uploadError{"create " + tmp, err}
	}
	if _, err := f.ReadFrom(r); err != nil {
		f.Close()
		return tmp, &uploadError{"write", err}
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return tmp, &uploadError{"chmod", err}
	}
	if err := f.Close(); err != nil {
		return tmp, &uploadError{"close", err}
	}
	if err := sc.PosixRename(tmp, remotePath); err != nil {
		return tmp, &uploadError{"rename into place", err}
	}
	return "", nil
}

// abandon is an upload's answer to its cancellation: close the SFTP
// session, and if the upload has not returned within CancelGrace, close
// the connection too, for a host that holds a blocked write forever.
func (c *Client) abandon(sess *ssh.Session, returned <-chan struct{}, what string) {
	// Close sends a message, which blocks while the host reads nothing.
	go sess.Close()
	t := time.NewTimer(c.opts.CancelGrace)
	defer t.Stop()
	select {
	case <-returned:
	case <-t.C:
		c.fail(fmt.Errorf("%w: %s did not stop within %s of the cancel", ErrUnresponsive, what, c.opts.CancelGrace))
	}
}

// checkAnswers closes the connection (Err then wraps ErrUnresponsive) if
// the host does not answer a keepalive request within CancelGrace.
func (c *Client) checkAnswers(what string) {
	if c.Err() != nil {
		return
	}
	select {
	case <-c.ping():
	case <-time.After(c.opts.CancelGrace):
		c.fail(fmt.Errorf("%w: the host did not answer within %s after %s was cancelled", ErrUnresponsive, c.opts.CancelGrace, what))
	}
}

// removeLeftover removes a failed upload's temporary files. After a cancel
// the SFTP session is gone, so it runs rm in a session of its own, within
// CancelGrace; on a connection already closed it does not try.
func (c *Client) removeLeftover(ctx context.Context, tmps ...string) {
	if c.Err() != nil {
		c.opts.Logger.Warn("partial upload left on the host: the connection is closed", "files", tmps)
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.CancelGrace)
	defer cancel()
	quoted := make([]string, len(tmps))
	for i, tmp := range tmps {
		quoted[i] = Quote(tmp)
	}
	res, err := c.Run(rctx, RunSpec{Command: "rm -f -- " + strings.Join(quoted, " "), NoProfile: true})
	if err != nil || !res.OK() {
		c.opts.Logger.Warn("could not remove a partial upload", "files", tmps, "err", err, "exit", res.ExitCode)
	}
}
