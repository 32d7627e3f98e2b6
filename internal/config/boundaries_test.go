package config

import (
	"strings"
	"testing"
)

// One line of the private key, pasted alone into an input that is no
// secret, is still the key: the error that quotes the input says *** and
// never the line. A body line has no armour, so only holdsSecret's
// line-by-line search finds it.
func TestErrorsDoNotQuoteOneLineOfAKey(t *testing.T) {
	key := testKeyPEM(t)
	var body []string
	for _, line := range strings.Split(strings.TrimSpace(key), "\n") {
		if !strings.HasPrefix(line, "-----") {
			body = append(body, line)
		}
	}
	if len(body) < 3 {
		t.Fatalf("key has %d body lines, want at least 3:\n%s", len(body), key)
	}
	line := body[1]
	tests := []struct {
		input, value string
	}{
		{"timeout-minutes", line},
		{"ttl", line},
		{"ref", line + ".."},
		{"repository", "-" + line},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			_, err := load(t, map[string]string{"provider": "aws", "ssh-private-key": key, tt.input: tt.value})
			wantInputError(t, err, tt.input, `input "`+tt.input+`": got "***"`)
			// A shortened echo would still leak the line's start.
			if strings.Contains(err.Error(), line[:16]) {
				t.Errorf("the error quotes a line of ssh-private-key: %v", err)
			}
		})
	}
}

// repository and ref are pasted into git commands on the host: a value
// that git would read as an option, or a ref with "..", is bad input
// named as such, whatever else about it looks like a URL or a ref.
func TestLoadRefusesOptionLikeRepositoryAndDotDotRef(t *testing.T) {
	tests := []struct {
		input, value, want string
	}{
		{"repository", "-oX@h:y", `got "-oX@h:y", expected a git URL`},
		{"repository", "--config=core.sshCommand=x@h:y", `got "--config=core.sshCommand=x@h:y", expected a git URL`},
		{"repository", "-x://h/y", `got "-x://h/y", expected a git URL`},
		{"ref", "a..b", `got "a..b", expected a commit SHA or ref name`},
		{"ref", "main..", `got "main..", expected a commit SHA or ref name`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			r, err := load(t, map[string]string{"provider": "aws", tt.input: tt.value})
			if r != nil {
				t.Errorf("Load returned a run for %s %q", tt.input, tt.value)
			}
			wantInputError(t, err, tt.input, tt.want)
		})
	}
	// The same forms without the dash or the dots are fine.
	for input, value := range map[string]string{"repository": "git@github.com:a/b.git", "ref": "a.b"} {
		if _, err := load(t, map[string]string{"provider": "aws", input: value}); err != nil {
			t.Errorf("%s %q: %v", input, value, err)
		}
	}
}

// ttl must be longer than timeout-minutes (the input's description says
// so): a host whose shutdown timer fires exactly when the run may still be
// going destroys itself mid-run.
func TestLoadTTLMustExceedTimeout(t *testing.T) {
	tests := []struct {
		ttl  string
		fail bool
	}{
		{"89m", true},
		{"90m", true},
		{"1h30m", true},
		{"91m", false},
		{"3h", false},
	}
	for _, tt := range tests {
		t.Run(tt.ttl, func(t *testing.T) {
			_, err := load(t, map[string]string{"provider": "aws", "timeout-minutes": "90", "ttl": tt.ttl})
			if !tt.fail {
				if err != nil {
					t.Fatalf("ttl %s with timeout-minutes 90: %v", tt.ttl, err)
				}
				return
			}
			wantInputError(t, err, "ttl", `got "`+tt.ttl+`", expected a duration longer than timeout-minutes (1h30m0s)`)
		})
	}
}
