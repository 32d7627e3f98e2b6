package remote

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Quote returns s as one POSIX shell word: unchanged when it holds only
// characters no shell treats specially, otherwise in single quotes with
// each ' written as '\”.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if safeWord.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var (
	safeWord = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)
	envName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// userName is what useradd accepts by default, which is also what sudo
	// -u takes without reading it as a uid (#123) or an option.
	userName = regexp.MustCompile(`^[a-z_][a-z0-9_-]*\$?$`)
)

// remoteCommand builds the string sshd hands to the login user's shell.
//
// As the login user it is `bash -lc 'SCRIPT'`, a login shell so that PATH
// set up by rustup or nix in ~/.profile is there.
//
// As another user it is `sudo -n -iu USER bash -lc 'source <(base64 -d
// <<<B64)'`. sudo -i re-quotes the command for the target's login shell by
// backslash-escaping every character except letters, digits, '_', '-' and
// '$', so any '$' in a plain script would be expanded early by that outer
// shell ("for f in a b; do echo $f; done" prints two empty lines). The
// base64 form has no '$' and survives the re-quoting byte for byte; source
// runs the script in the login bash with stdin left alone.
func remoteCommand(loginUser string, s RunSpec) (string, error) {
	script, err := scriptWithEnv(s.Command, s.Env)
	if err != nil {
		return "", err
	}
	if s.AsUser == "" || s.AsUser == loginUser {
		return "bash -lc " + Quote(script), nil
	}
	if !userName.MatchString(s.AsUser) {
		return "", fmt.Errorf("run as user %q: want a user name like \"mvm\" ([a-z_][a-z0-9_-]*)", s.AsUser)
	}
	encoded := base64.StdEncoding.EncodeToString([]byte(script))
	return "sudo -n -iu " + s.AsUser + " bash -lc " + Quote("source <(base64 -d <<<"+encoded+")"), nil
}

// scriptWithEnv prefixes the command with exports, sorted by name so the
// same spec always gives the same script. Env goes inline rather than
// through the SSH "env" request, which sshd refuses unless AcceptEnv lists
// the name, and which sudo would strip anyway.
func scriptWithEnv(command string, env map[string]string) (string, error) {
	if strings.TrimSpace(command) == "" {
		return "", fmt.Errorf("run: command is empty")
	}
	if len(env) == 0 {
		return command, nil
	}
	names := make([]string, 0, len(env))
	for name := range env {
		if !envName.MatchString(name) {
			return "", fmt.Errorf("run: environment variable name %q: want [A-Za-z_][A-Za-z0-9_]*", name)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "export %s=%s\n", name, Quote(env[name]))
	}
	b.WriteString(command)
	return b.String(), nil
}
