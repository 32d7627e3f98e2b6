package verify

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/remote"
)

// hostOutlives says whether the machine stays after the teardown: a host
// the provider did not create (ssh), or one it only made ready (local:
// this machine). What the cycle writes there, it must undo itself.
func (c *cycle) hostOutlives() bool {
	return !c.plan.Info.Creates || c.host.Outlives
}

// uploadMarker prefixes the line prepareUpload's script reports on, so a
// chatty login profile cannot be read as its answer.
const uploadMarker = "mvm-verify-upload:"

// prepareUpload readies dst on a host that outlives the run for an upload
// that must be undone at teardown, and pushes the host cleanup that undoes
// it. It finds the parent directories the upload will create, and keeps a
// file already at dst aside to put back: a hard link, which leaves it in
// place until the upload replaces it, else (a file of another user, which
// fs.protected_hardlinks keeps us from linking) moved aside. Either way
// the file put back is the same inode, with its owner and mode. A
// directory at dst is left alone: the upload fails on it.
//
// It runs as the login user, as the upload does, so the cleanup has the
// rights to undo what the upload did.
func (c *cycle) prepareUpload(ctx context.Context, src, dst string) error {
	var created []string // the parents that may be missing, deepest first
	for d := path.Dir(dst); d != "/" && d != "."; d = path.Dir(d) {
		created = append(created, d)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	backup := path.Join(path.Dir(dst), "."+path.Base(dst)+".mvm-verify-backup-"+hex.EncodeToString(b[:]))
	script := fmt.Sprintf(`f=%s
b=%s
n=0
for d in %s; do
  if [ -e "$d" ] || [ -L "$d" ]; then break; fi
  n=$((n+1))
done
kept=no
if [ -d "$f" ] && [ ! -L "$f" ]; then
  kept=dir
elif [ -e "$f" ] || [ -L "$f" ]; then
  ln -- "$f" "$b" 2>/dev/null || mv -- "$f" "$b" || exit 1
  kept=yes
fi
echo %s "$n" "$kept"
`, remote.Quote(dst), remote.Quote(backup), strings.Join(quoteAll(created), " "), uploadMarker)
	res, err := c.client.Run(ctx, remote.RunSpec{Command: script, NoProfile: true, Timeout: time.Minute})
	c.addRemote(res.Duration)
	if err != nil {
		return fmt.Errorf("upload %s to %s: check what is there: %w", src, dst, err)
	}
	missing, kept, ok := parseUploadCheck(res.Output)
	if !res.OK() || !ok || missing > len(created) {
		return fmt.Errorf("upload %s to %s: check what is there, and keep a file already there aside for the teardown to put back: exit %d: %s",
			src, dst, res.ExitCode, c.oneLine(res.Output, 300))
	}
	var undo string
	switch {
	case kept == "dir":
		return nil // nothing will be written, so nothing to undo
	case kept == "yes":
		undo = fmt.Sprintf("mv -f -- %s %s", remote.Quote(backup), remote.Quote(dst))
	case missing > 0:
		// Only the directories the upload made, and only when empty: what
		// else is in them is not the upload's to remove.
		undo = fmt.Sprintf("rm -f -- %s\nfor d in %s; do rmdir -- \"$d\" 2>/dev/null || break; done\ntrue",
			remote.Quote(dst), strings.Join(quoteAll(created[:missing]), " "))
	default:
		undo = "rm -f -- " + remote.Quote(dst)
	}
	name := "remove upload " + dst
	if kept == "yes" {
		name = "restore " + dst + " as it was before the upload"
	}
	c.pushHostCleanup(HostCleanup{Name: name, Command: undo}, "the upload "+dst)
	return nil
}

// parseUploadCheck reads prepareUpload's answer: how many of the parents
// are missing, and whether a file at dst was kept aside ("yes"), is a
// directory ("dir"), or there was none ("no").
func parseUploadCheck(out []byte) (missing int, kept string, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != uploadMarker {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil || n < 0 {
			continue
		}
		missing, kept, ok = n, f[2], true
	}
	return missing, kept, ok && (kept == "yes" || kept == "no" || kept == "dir")
}
