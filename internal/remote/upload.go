package remote

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/pkg/sftp"
)

// Upload writes r to remotePath over SFTP with the given mode, creating the
// parent directory. It writes a temporary file next to the target and
// renames it into place, so a running binary at remotePath is replaced, not
// overwritten mid-read, and a failed upload leaves no partial file.
func (c *Client) Upload(ctx context.Context, r io.Reader, remotePath string, mode os.FileMode) (err error) {
	if !path.IsAbs(remotePath) || path.Clean(remotePath) != remotePath || remotePath == "/" {
		return fmt.Errorf("upload: remote path %q: want a clean absolute file path such as /usr/local/bin/mvm-verify", remotePath)
	}
	if mode&^os.ModePerm != 0 {
		return fmt.Errorf("upload %s: mode %v: want permission bits only (e.g. 0755)", remotePath, mode)
	}
	fail := func(what string, err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("upload %s: %s: %w", remotePath, what, context.Cause(ctx))
		}
		return c.transportErr(fmt.Sprintf("upload %s: %s", remotePath, what), err)
	}
	sc, err := sftp.NewClient(c.ssh, sftp.UseConcurrentWrites(true))
	if err != nil {
		return fail("start sftp", err)
	}
	defer sc.Close()
	// sftp has no context: closing the client fails whatever call is
	// blocked.
	stop := context.AfterFunc(ctx, func() { sc.Close() })
	defer stop()

	dir := path.Dir(remotePath)
	if err := sc.MkdirAll(dir); err != nil {
		return fail("create "+dir, err)
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	tmp := path.Join(dir, "."+path.Base(remotePath)+".upload-"+hex.EncodeToString(suffix[:]))
	f, err := sc.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fail("create "+tmp, err)
	}
	defer func() {
		if err != nil {
			_ = sc.Remove(tmp)
		}
	}()
	if _, err := f.ReadFrom(r); err != nil {
		f.Close()
		return fail("write", err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fail("chmod", err)
	}
	if err := f.Close(); err != nil {
		return fail("close", err)
	}
	if err := sc.PosixRename(tmp, remotePath); err != nil {
		return fail("rename into place", err)
	}
	return nil
}
