package cli_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/testhost"
)

// TestBadInputRowInActions is the bad input table run as the action's main
// step (INPUT_* as the runner passes them): each case exits 2 with nothing
// started, and besides status=error sets the row output a workflow reads
// with fromJSON(steps.x.outputs.row) — a row as a refused preflight's
// (Preflight ❌, the rest not run), keyed as the inputs say, whose notes
// name the bad input and hold no secret. No state is saved that would
// give the post step anything to tear down.
func TestBadInputRowInActions(t *testing.T) {
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "bad.yml")
	good := filepath.Join(dir, "good.yml")
	for path, text := range map[string]string{
		badYAML: "user: mvm\nsteps:\n  - name: a\n    run: x\n    timeout: [1, 2]\n",
		good:    quickSuite,
	} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	keyPEM, _ := testhost.ClientKeyPEM(t)
	const token = "ghs_badinputrowtoken"
	const pastedKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----"
	secrets := []string{token, string(keyPEM), "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"}
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if len(line) >= 16 {
			secrets = append(secrets, line)
		}
	}
	cases := []struct {
		name      string
		with      map[string]string
		key, cell string // the row's key and Provider cell
		note      string // in the row's notes
	}{
		{"unknown provider", map[string]string{"provider": "nimbus"},
			"nimbus", "nimbus", `bad input: input "provider": got "nimbus"`},
		{"malformed duration", map[string]string{"provider": "local", "suite": good, "ready-timeout": "soon"},
			"local", "Local", `input "ready-timeout": got "soon"`},
		{"ssh without host", map[string]string{"provider": "ssh", "ssh-private-key": string(keyPEM), "insecure-host-key": "true"},
			"ssh", "SSH", `input "ssh-host": missing`},
		{"missing suite", map[string]string{"provider": "local", "suite": filepath.Join(dir, "nope.yml")},
			"local", "Local", `input "suite": got "` + filepath.Join(dir, "nope.yml") + `"`},
		{"yaml type error", map[string]string{"provider": "local", "suite": badYAML},
			"local", "Local", "bad.yml:5"},
		{"key, lane and display given", map[string]string{"provider": "nimbus", "key": "nimbus-leg", "lane": "no-kvm", "display": "Nimbus (edge)"},
			"nimbus-leg", "Nimbus (edge)", `input "provider"`},
		{"no-kvm lane keys the row as config would", map[string]string{"provider": "local", "suite": good, "lane": "no-kvm", "ready-timeout": "soon"},
			"local-no-kvm", "Local (no-kvm)", `input "ready-timeout"`},
		// A key pasted into the provider input names no row: it is not
		// echoed, and the row is unknown's.
		{"key material as the provider", map[string]string{"provider": pastedKey},
			"unknown", "unknown", `input "provider"`},
		{"unknown mode", map[string]string{"mode": "launch", "provider": "local", "suite": good},
			"local", "Local", `input "mode"`},
		// Two refused inputs read as two errors, "; " between them.
		{"two bad inputs", map[string]string{"provider": "local", "suite": good, "ready-timeout": "soon", "teardown-budget": "30s"},
			"local", "Local", `; input "`},
	}
	expr := map[string]string{
		"${{ github.token }}":                                     token,
		"${{ github.server_url }}":                                "https://github.example",
		"${{ github.repository }}":                                ghRepo,
		"${{ github.event.pull_request.head.sha || github.sha }}": ghHead,
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			tmp := t.TempDir()
			outputs, summary, state := emptyFile(t, "outputs"), emptyFile(t, "summary"), emptyFile(t, "state")
			with := maps.Clone(tc.with)
			with["out"] = out
			// The refusal is reported to GitHub: to a fake, looked into too.
			gh, ghBodies := tracedGitHub(t)
			gh.AddToken(token, fakegh.Token{Login: "github-actions[bot]"})
			env := cmdEnv(t, append(append(actionsEnv(prEventFile(t, ghRepo), summary, outputs),
				runnerInputs(t, with, expr)...), "GITHUB_STATE="+state, "TMPDIR="+tmp, "GITHUB_API_URL="+gh.URL())...)
			r := runBin(t, env)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			got := parseFileCommands(t, outputs)
			if keys := slices.Sorted(maps.Keys(got)); got["status"] != "error" || !slices.Equal(keys, []string{"row", "status"}) {
				t.Fatalf("outputs %v, want status error and a row", got)
			}
			var row matrix.Row
			if err := json.Unmarshal([]byte(got["row"]), &row); err != nil {
				t.Fatalf("row output is not a row: %v: %q", err, got["row"])
			}
			if row.Key != tc.key || row.Provider != tc.cell {
				t.Errorf("row key %q, Provider cell %q; want %q and %q", row.Key, row.Provider, tc.key, tc.cell)
			}
			want := map[matrix.Column]matrix.Status{matrix.Preflight: matrix.Fail, matrix.LiveCycle: matrix.NotRun, matrix.SeccompProbe: matrix.NotRun}
			for col, status := range want {
				if row.Cells[col].Status != status {
					t.Errorf("row cell %s %q, want %q (as a refused preflight's): %+v", col, row.Cells[col].Status, status, row)
				}
			}
			if !strings.Contains(row.Notes, tc.note) {
				t.Errorf("row notes %q lack %q", row.Notes, tc.note)
			}
			if row.HeadSHA != ghHead {
				t.Errorf("row head SHA %q, want the PR head %s", row.HeadSHA, ghHead)
			}
			// The row renders as any other.
			if tbl := matrix.Table([]matrix.Row{row}); !strings.Contains(tbl, "| ❌ | — | — |") {
				t.Errorf("the row renders as\n%s\nwant Preflight ❌ and the rest not run", tbl)
			}
			for _, s := range secrets {
				for what, text := range map[string]string{"outputs": readFile(t, outputs), "job summary": readFile(t, summary),
					"stdout": r.stdout, "stderr": r.stderr, "requests to GitHub": strings.Join(ghBodies(), "\n")} {
					if strings.Contains(text, s) {
						t.Errorf("a secret (%.12s…) is in the %s", s, what)
					}
				}
			}
			// The leg's refusal is its status on the PR, under the row
			// output's key, unless no input named the row or the mode is
			// not a leg's.
			if tc.key != "unknown" && tc.with["mode"] == "" {
				if sts := legStatuses(gh, tc.key); len(sts) != 1 || sts[0].State != "failure" {
					t.Errorf("statuses mvm-verify/%s on the head: %+v, want one failure", tc.key, sts)
				}
			} else if reqs := gh.Requests(); len(reqs) != 0 {
				t.Errorf("%d requests reached GitHub, want none: %+v", len(reqs), reqs)
			}
			// Nothing for the post step to tear down: it acts on the
			// provider and identity states, and on recorded resources.
			if st := parseFileCommands(t, state); len(st) > 0 {
				t.Errorf("state saved for the post step: %v", st)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("out %s was created for a run refused at its input", out)
			}
			if left := processesMentioning(t, tmp); len(left) > 0 {
				t.Errorf("processes started: %v", left)
			}
		})
	}
}

// TestBadInputReportSetsNoRow: report is no leg, so its bad input sets the
// status output alone, as the docs say.
func TestBadInputReportSetsNoRow(t *testing.T) {
	outputs, summary := emptyFile(t, "outputs"), emptyFile(t, "summary")
	env := cmdEnv(t, append(actionsEnv(prEventFile(t, ghRepo), summary, outputs),
		"INPUT_MODE=report", "INPUT_TIMEOUT-MINUTES=soon")...)
	r := runBin(t, env)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if got := parseFileCommands(t, outputs); !maps.Equal(got, map[string]string{"status": "error"}) {
		t.Errorf("report's bad input set the outputs %v, want status error alone", got)
	}
}
