package cli_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tinylabscom/mvm-verify/internal/testhost"
	"github.com/tinylabscom/mvm-verify/providers"
)

// TestPostFailsOnDamagedState: main saved state, so it may have created
// something, but what the post step needs from it is damaged. Unlike a main
// that saved nothing (TestPostWithoutStateDoesNothing), that is no green
// step: post exits 1 and says, in an error annotation and its summary, what
// may be left. Damaged host cleanups matter only on a host the run did not
// create (ssh): a created one is removed with everything on it.
func TestPostFailsOnDamagedState(t *testing.T) {
	testhost.RequireRoot(t)
	now := time.Now().UTC().Truncate(time.Second)
	leg := func(key string) string {
		id := providers.Identity{Repo: ghRepo, RunID: "99", RunAttempt: "1", Job: "verify", Key: key,
			HeadSHA: ghHead, CreatedAt: now, ExpiresAt: now.Add(time.Hour), Leg: "damaged1"}
		b, _ := json.Marshal(id)
		return string(b)
	}
	edPub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(edPub)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	// The host is never dialled: the damaged cleanups are found first.
	sshInputs := []string{"INPUT_PROVIDER=ssh", "INPUT_SSH-HOST=127.0.0.1", "INPUT_SSH-USER=root",
		"INPUT_SSH-PRIVATE-KEY=" + string(pem.EncodeToMemory(block)), "INPUT_SSH-KNOWN-HOST=127.0.0.1 " + string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(pub)))}
	localInputs := []string{"INPUT_PROVIDER=local", "INPUT_LOCAL-STATE-DIR=" + t.TempDir()}
	for _, tc := range []struct {
		name   string
		inputs []string
		state  []string
		code   int
		want   []string // in post's output and summary; none when it passes
	}{
		{"identity not JSON", localInputs, []string{"STATE_provider=local", "STATE_identity=garbage"}, 1,
			[]string{`saved identity (state "identity") is not a leg's identity (not JSON:`, "nothing was torn down", "mvm-verify-run=99-1"}},
		{"identity without run or key", localInputs, []string{"STATE_provider=local", "STATE_identity={}"}, 1,
			[]string{"is not a leg's identity (it names no run or no key)", "nothing was torn down"}},
		{"host cleanups not JSON", sshInputs, []string{"STATE_provider=ssh", "STATE_identity=" + leg("ssh"),
			"STATE_torn-down=true", "STATE_host-cleanups={"}, 1,
			[]string{`saved host cleanups (state "host-cleanups") are not valid JSON`, "may be left"}},
		{"host cleanups not JSON, created host", localInputs, []string{"STATE_provider=local", "STATE_identity=" + leg("local"),
			"STATE_torn-down=true", "STATE_host-cleanups={"}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			summary := emptyFile(t, "summary")
			env := cmdEnv(t, append(append(append(actionsEnv(prEventFile(t, ghRepo), summary, emptyFile(t, "outputs")),
				"INPUT_OUT="+filepath.Join(t.TempDir(), "leg")), tc.inputs...), tc.state...)...)
			post := exec.Command(filepath.Join(filepath.Dir(bin), "mvm-verify-post"))
			post.Env = env
			out, err := post.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("post: exit %d, want %d\n%s", code, tc.code, out)
			}
			sum := readFile(t, summary)
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) || !strings.Contains(sum, w) {
					t.Errorf("post's output and summary do not both say %q:\n%s\nsummary:\n%s", w, out, sum)
				}
			}
			if annotated := strings.Contains(string(out), "::error title=mvm-verify post::"); annotated != (tc.code != 0) {
				t.Errorf("error annotation %v, want %v:\n%s", annotated, tc.code != 0, out)
			}
		})
	}
}
