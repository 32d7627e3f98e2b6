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

// markerVar is exported into every command with a value unique to that
// run, so that killing it can find every process it started: see
// sweepScript.
const markerVar = "MVM_VERIFY_CMD"

// remoteCommand builds the string sshd hands to the login user's shell for
// s, with markerVar=marker in the environment bash starts with when marker
// is set. sudoLogin says the login user has passwordless sudo
// (Client.CheckSudo), so a command as the login user goes through sudo too.
func remoteCommand(loginUser string, sudoLogin bool, s RunSpec, marker string) (string, error) {
	script, err := scriptWithEnv(s.Command, s.Env)
	if err != nil {
		return "", err
	}
	return shellCommand(loginUser, sudoLogin, s.AsUser, script, marker, s.NoProfile)
}

// shellCommand runs script in a bash login shell as asUser (a plain one
// with noProfile). A marker is set with env(1) rather than exported by the
// script, because /proc/PID/environ shows a process's environment as it
// was exec'd: bash itself must start with it.
//
// As a named user it is `sudo -n -iu USER bash -lc 'source <(base64 -d
// <<<B64)'`, the login user included when sudoLogin is set: a step then
// starts from the same fresh login (sudo's reset environment, SUDO_USER)
// whichever user the provider logs in as. With asUser empty, or the login
// user without sudoLogin (a host where the login user has no passwordless
// sudo), it is `bash -lc 'SCRIPT'` in the login user's own shell. Either
// way it is a login shell, so that PATH set up by rustup or nix in
// ~/.profile is there.
// With noProfile it is the same without the login: `bash -c 'SCRIPT'`, as
// another user through `sudo -n -u USER` (the login user needs no sudo for
// itself), for commands that need nothing from a profile.
// sudo -i re-quotes the command for the target's login shell by
// backslash-escaping every character except letters, digits, '_', '-' and
// '$', so any '$' in a plain script would be expanded early by that outer
// shell ("for f in a b; do echo $f; done" prints two empty lines). The
// base64 form has no '$' and survives the re-quoting byte for byte; source
// runs the script in the login bash with stdin left alone.
func shellCommand(loginUser string, sudoLogin bool, asUser, script, marker string, noProfile bool) (string, error) {
	bash := "bash -lc "
	if noProfile {
		// A login would have put the sbin directories on PATH for root;
		// sudo without secure_path keeps the caller's, which may lack them.
		bash = "bash -c "
		script = "PATH=\"$PATH:/usr/local/sbin:/usr/sbin:/sbin\"; " + script
	}
	if marker != "" {
		bash = "env " + markerVar + "=" + Quote(marker) + " " + bash
	}
	if asUser == "" || asUser == loginUser && (!sudoLogin || noProfile) {
		return bash + Quote(script), nil
	}
	if !userName.MatchString(asUser) {
		return "", fmt.Errorf("run as user %q: want a user name like \"mvm\" ([a-z_][a-z0-9_-]*)", asUser)
	}
	if noProfile {
		// Without -i sudo passes the words on as they are: no re-quoting.
		return "sudo -n -u " + asUser + " " + bash + Quote(script), nil
	}
	encoded := base64.StdEncoding.EncodeToString([]byte(script))
	return "sudo -n -iu " + asUser + " " + bash + Quote("source <(base64 -d <<<"+encoded+")"), nil
}

// sweepScript ends, as the user that ran it, every process whose
// environment carries markerVar=marker. OpenSSH's answer to a signal
// request is killpg as the login user, which cannot reach a command run
// through sudo as someone else, nor anything the command moved to a new
// session; the marker is inherited by all of them. The first pass sends
// TERM, so a process holding a lock file (a login shell's startup rehash)
// can remove it on its way out; the later passes KILL what is left and
// what was forked meanwhile.
//
// After TERM it waits until none is left rather than a fixed moment: a
// shell killed between taking such a lock and releasing it leaves the lock
// behind, and every later login waits a minute for it. The wait is bounded
// by wall time (1 s, from bash's EPOCHREALTIME), not by a count of passes,
// so a process that ignores TERM holds up a cancel's cleanups by that
// second whatever the host's process count. A bash older than 5 has no
// clock finer than SECONDS, whose whole seconds would make that wait
// anywhere from 1 to 2 s, and 2 s is all of CancelGrace: Run would give up
// on the command before the KILL. There it is 10 passes 0.1 s apart. A
// pass is one grep over every process's environment, not one per process:
// forking a grep for each of a few hundred processes takes most of a
// second on its own.
func sweepScript(marker string) string {
	return KillMarkedScript(markerVar, marker)
}

// KillMarkedScript is sweepScript for any marker variable: a bash script
// that ends, TERM first as sweepScript says, every process the user it
// runs as may signal whose environment holds name=value. Its last pass
// also KILLs the process groups the marked processes were in: a child
// that dropped the marker from its environment and ignores TERM stays in
// its parent's group, and once the session's own process has died of the
// TERM, OpenSSH has no process left to deliver a KILL signal request to.
// A group is remembered from when a marked process was seen in it, and
// the script's own is never among them.
func KillMarkedScript(name, value string) string {
	return `read -r self </proc/$$/stat
self=${self##*) }
self=${self#* }
self=${self#* }
self=${self%% *}
groups=
marked() {
  pids=
  for f in $(grep -lzxF -e ` + Quote(name+"="+value) + ` /proc/[0-9]*/environ 2>/dev/null); do
    pid=${f#/proc/}
    pid=${pid%/environ}
    [ "$pid" = "$$" ] && continue
    pids="$pids $pid"
    read -r st 2>/dev/null </proc/"$pid"/stat || continue
    st=${st##*) }
    st=${st#* }
    st=${st#* }
    g=${st%% *}
    case " $groups " in *" -$g "*) ;; *) [ "$g" -gt 1 ] 2>/dev/null && [ "$g" != "$self" ] && groups="$groups -$g" ;; esac
  done
  [ -n "$pids" ] || return 1
  [ -z "$1" ] || kill -"$1" $pids 2>/dev/null
  return 0
}
if marked TERM; then
  if [ -n "${EPOCHREALTIME:-}" ]; then
    end=$((${EPOCHREALTIME//[!0-9]/} + 1000000))
    while marked "" && [ "${EPOCHREALTIME//[!0-9]/}" -lt "$end" ]; do sleep 0.05; done
  else
    n=0
    while marked "" && [ "$n" -lt 10 ]; do sleep 0.1; n=$((n + 1)); done
  fi
fi
marked KILL
marked KILL
[ -z "$groups" ] || kill -KILL -- $groups 2>/dev/null
true`
}

// sweepCommand runs the sweep as asUser without a login shell: the sweep
// needs nothing from the user's profile, and a profile that waits on a
// lock (a rehash) must not hold up the end of a command. As the login user
// it needs no sudo even when the command went through it: what sudo
// started runs as the login user, whose own shell may read its environment
// and kill it.
func sweepCommand(loginUser, asUser, marker string) (string, error) {
	script := Quote(sweepScript(marker))
	if asUser == "" || asUser == loginUser {
		return "bash -c " + script, nil
	}
	if !userName.MatchString(asUser) {
		return "", fmt.Errorf("run as user %q: want a user name like \"mvm\" ([a-z_][a-z0-9_-]*)", asUser)
	}
	return "sudo -n -u " + asUser + " bash -c " + script, nil
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
