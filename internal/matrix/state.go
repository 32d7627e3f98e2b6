package matrix

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// StateVersion is the version of the hidden-state encoding this code writes.
const StateVersion = 1

// stateOpen starts the hidden state in a markdown body. Base64 cannot contain
// "--" or ">", so the payload never ends the HTML comment early.
const (
	stateOpen  = "<!-- mvm-verify:state v"
	stateClose = " -->"
)

// State is what a matrix comment carries besides its table: the rows it
// shows and the commit they are about, so the next writer can merge into it.
type State struct {
	Version int    `json:"v"`
	HeadSHA string `json:"head_sha,omitempty"`
	Rows    []Row  `json:"rows"`
}

// EncodeState renders the state as one HTML comment line (no newline):
// invisible in rendered markdown and safe from the table's content.
func EncodeState(st State) (string, error) {
	st.Version = StateVersion
	data, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("encode matrix state: %w", err)
	}
	return fmt.Sprintf("%s%d %s%s", stateOpen, StateVersion, base64.StdEncoding.EncodeToString(data), stateClose), nil
}

// DecodeState finds the hidden state in a markdown body. found is false when
// the body carries none; an error means it carries one that cannot be read
// (a newer version, or damaged by a hand edit).
func DecodeState(body string) (st State, found bool, err error) {
	i := strings.Index(body, stateOpen)
	if i < 0 {
		return State{}, false, nil
	}
	rest := body[i+len(stateOpen):]
	end := strings.Index(rest, stateClose)
	if end < 0 {
		return State{}, true, fmt.Errorf("decode matrix state: no %q after %q", strings.TrimSpace(stateClose), stateOpen)
	}
	version, payload, ok := strings.Cut(rest[:end], " ")
	if !ok {
		return State{}, true, fmt.Errorf("decode matrix state: want %q<version> <base64>, got %q", stateOpen, Truncate(rest[:end], 40))
	}
	if version != fmt.Sprint(StateVersion) {
		return State{}, true, fmt.Errorf("decode matrix state: version %q, this build reads %d", version, StateVersion)
	}
	data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(payload))
	if err != nil {
		return State{}, true, fmt.Errorf("decode matrix state: base64: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return State{}, true, fmt.Errorf("decode matrix state: json: %w", err)
	}
	for i, r := range st.Rows {
		if r.Key == "" {
			return State{}, true, fmt.Errorf("decode matrix state: row %d has no key", i)
		}
	}
	return st, true, nil
}
