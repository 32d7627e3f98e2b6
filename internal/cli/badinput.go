package cli

import (
	"regexp"
	"slices"
	"strings"

	"github.com/tinylabscom/mvm-verify/internal/config"
	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/internal/verify"
	"github.com/tinylabscom/mvm-verify/providers"
)

// The forms a provider name and a row key take (config checks them); a
// raw input of another form is not put in a bad input's row, where it
// could be anything pasted into the wrong input.
var (
	rawProviderForm = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	rawKeyForm      = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
)

// badInputNoteMax bounds the note of a bad input's row: a suite file's
// error can be long, and the row's cell is a table cell.
const badInputNoteMax = 300

// badInputRow is the row output of a leg refused at its inputs, shaped as
// a preflight refusal's row is (Preflight ❌, the rest not run, the
// refusal as the whole note), so a workflow reading the row output of any
// leg (fromJSON(steps.x.outputs.row)) finds a row and not an empty string.
// The configuration that would settle the leg's key and name was refused,
// so they come from the inputs as given, where they have the form of one
// ("unknown" otherwise); the note is the error, which names the input, with
// every secret input's value as given replaced by "***".
func (a *app) badInputRow(err error) matrix.Row {
	src := a.src
	if src == nil {
		// The flags did not parse: INPUT_* is all there is.
		src = actionSource(a.files.gha)
	}
	get := func(name string) string {
		v, _ := src(name)
		return strings.TrimSpace(v)
	}
	var secrets []string
	for _, in := range config.Inputs() {
		if !in.Secret {
			continue
		}
		v, _ := src(in.Name)
		for _, line := range strings.Split(v, "\n") {
			// As the loader's check for a secret pasted elsewhere: a
			// shorter line matches unrelated text by chance.
			if line = strings.TrimSpace(line); len(line) >= 8 {
				secrets = append(secrets, line)
			}
		}
	}
	redact := func(s string) string {
		for _, v := range secrets {
			s = strings.ReplaceAll(s, v, "***")
		}
		return s
	}

	provider := get("provider")
	if !rawProviderForm.MatchString(provider) || redact(provider) != provider {
		provider = "unknown"
	}
	lane := get("lane")
	if !slices.Contains([]string{config.LaneKVM, config.LaneNoKVM}, lane) {
		lane = ""
	}
	key := get("key")
	if !rawKeyForm.MatchString(key) || redact(key) != key {
		key = providers.Label(provider)
		if lane == config.LaneNoKVM {
			key += "-" + config.LaneNoKVM
		}
	}
	display := get("display")
	if display == "" || strings.ContainsAny(display, "\r\n") || redact(display) != display {
		display = matrix.DisplayName(key)
	}
	note := matrix.Truncate("bad input: "+strings.Join(strings.Fields(redact(err.Error())), " "), badInputNoteMax)

	now := a.clock().UTC()
	res := &verify.Result{
		Provider: provider,
		Display:  matrix.Truncate(display, 64),
		Identity: providers.Identity{Key: key, HeadSHA: headSHA(a.env.Getenv)},
		Outcome:  verify.Errored,
		Lane:     lane,
		Started:  now,
		Phases: []verify.PhaseResult{{Name: verify.PhasePreflight, Status: matrix.Fail, Started: now,
			Error: note}},
		FirstFailure: verify.PhasePreflight + ": " + note,
		Refusal:      note,
	}
	return res.Row()
}
