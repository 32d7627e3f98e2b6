package providertest

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Runner is what GitHub's runner gives one step of an action: fresh, empty
// GITHUB_OUTPUT, GITHUB_STATE and GITHUB_STEP_SUMMARY files, read back
// after the step the way the runner reads them. Tests use it instead of
// making the files by hand, so every test reads them with the same strict
// parser the runner has.
type Runner struct {
	OutputFile, StateFile, SummaryFile string
}

// NewRunner makes the step's three empty files in dir, named output, state
// and summary; an empty dir means a directory of the test's own.
func NewRunner(t testing.TB, dir string) *Runner {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	r := &Runner{
		OutputFile:  filepath.Join(dir, "output"),
		StateFile:   filepath.Join(dir, "state"),
		SummaryFile: filepath.Join(dir, "summary"),
	}
	for _, f := range []string{r.OutputFile, r.StateFile, r.SummaryFile} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatalf("make the runner's file command file: %v", err)
		}
	}
	return r
}

// Files are r's files by the variable that names them to the step.
func (r *Runner) Files() map[string]string {
	return map[string]string{"GITHUB_OUTPUT": r.OutputFile, "GITHUB_STATE": r.StateFile, "GITHUB_STEP_SUMMARY": r.SummaryFile}
}

// Env is the step's GITHUB_OUTPUT, GITHUB_STATE and GITHUB_STEP_SUMMARY.
func (r *Runner) Env() []string {
	return []string{"GITHUB_OUTPUT=" + r.OutputFile, "GITHUB_STATE=" + r.StateFile, "GITHUB_STEP_SUMMARY=" + r.SummaryFile}
}

// Outputs are the step's outputs as the runner reads them; a malformed
// file fails the test, as it fails the step on the runner.
func (r *Runner) Outputs(t testing.TB) map[string]string {
	t.Helper()
	return ReadFileCommands(t, r.OutputFile)
}

// State is what the step saved for its post step, read as the runner
// reads it.
func (r *Runner) State(t testing.TB) map[string]string {
	t.Helper()
	return ReadFileCommands(t, r.StateFile)
}

// Summary is the step's job summary as written.
func (r *Runner) Summary(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(r.SummaryFile)
	if err != nil {
		t.Fatalf("read the job summary: %v", err)
	}
	return string(data)
}

// StateEnv is the step's state as the runner hands it to the post step:
// one STATE_<name>=<value> per saved name, sorted.
func (r *Runner) StateEnv(t testing.TB) []string {
	t.Helper()
	return stateEnv(r.State(t))
}

// Post is the post step after r's step, whose environment was mainEnv.
func (r *Runner) Post(t testing.TB, mainEnv []string) ([]string, *Runner) {
	t.Helper()
	return PostStep(t, mainEnv, r.State(t))
}

// PostStep builds a post step's environment as the runner does: the main
// step's environment, but with fresh file command files of its own (the
// post step's Runner, returned), and what main saved reaching it only as
// STATE_* variables.
func PostStep(t testing.TB, mainEnv []string, state map[string]string) ([]string, *Runner) {
	t.Helper()
	post := NewRunner(t, "")
	fresh := post.Files()
	var env []string
	for _, kv := range mainEnv {
		k, _, _ := strings.Cut(kv, "=")
		if _, replaced := fresh[k]; !replaced && !strings.HasPrefix(k, "STATE_") {
			env = append(env, kv)
		}
	}
	env = append(env, post.Env()...)
	return append(env, stateEnv(state)...), post
}

func stateEnv(state map[string]string) []string {
	var env []string
	for _, k := range slices.Sorted(maps.Keys(state)) {
		env = append(env, "STATE_"+k+"="+state[k])
	}
	return env
}

// ReadFileCommands reads a GITHUB_OUTPUT or GITHUB_STATE file with
// ParseFileCommands; a file that does not parse fails the test.
func ReadFileCommands(t testing.TB, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read file commands: %v", err)
	}
	cmds, err := ParseFileCommands(string(data))
	if err != nil {
		t.Fatalf("%s is not what the runner accepts: %v\n%s", path, err, data)
	}
	return cmds
}

// ParseFileCommands reads the text of a GITHUB_OUTPUT or GITHUB_STATE file
// as GitHub's runner on Linux does. Lines end at "\n" only (a "\r" is part
// of the line, as it is there); empty lines are skipped. A line is
// NAME=VALUE when its first "=" comes before any "<<", else NAME<<DELIM:
// the value is the lines after it up to one that is exactly DELIM, joined
// by "\n". A later NAME wins. Anything else is an error, as it fails the
// step on the runner: an empty name or delimiter, a heredoc whose
// delimiter never appears on its own line, a line of neither form.
func ParseFileCommands(text string) (map[string]string, error) {
	lines := strings.Split(text, "\n")
	if lines[len(lines)-1] == "" {
		// The "\n" that ends the last line starts no line of its own.
		lines = lines[:len(lines)-1]
	}
	cmds := map[string]string{}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if line == "" {
			continue
		}
		eq, heredoc := strings.Index(line, "="), strings.Index(line, "<<")
		switch {
		case eq >= 0 && (heredoc < 0 || eq < heredoc):
			if eq == 0 {
				return nil, fmt.Errorf("line %d %q: empty name, expected NAME=VALUE", i+1, line)
			}
			cmds[line[:eq]] = line[eq+1:]
		case heredoc >= 0:
			name, delim := line[:heredoc], line[heredoc+2:]
			if name == "" || delim == "" {
				return nil, fmt.Errorf("line %d %q: empty name or delimiter, expected NAME<<DELIMITER", i+1, line)
			}
			end := slices.Index(lines[i+1:], delim)
			if end < 0 {
				return nil, fmt.Errorf("line %d %q: the delimiter %q is never on a line of its own", i+1, line, delim)
			}
			cmds[name] = strings.Join(lines[i+1:i+1+end], "\n")
			i += 1 + end
		default:
			return nil, fmt.Errorf("line %d %q: expected NAME=VALUE or NAME<<DELIMITER", i+1, line)
		}
	}
	return cmds, nil
}
