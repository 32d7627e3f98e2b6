package config

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tinylabscom/mvm-verify/internal/matrix"
	"github.com/tinylabscom/mvm-verify/providers"
)

// Suite is what runs on a host: the user steps run as, what cloud-init
// installs, the files uploaded and the verification steps.
type Suite struct {
	// Name is where the suite came from, for messages and the summary.
	Name string
	// User runs the steps (sudo -iu USER bash -lc); cloud-init creates it
	// with passwordless sudo, in the groups sudo and kvm, unless it is root.
	User     string
	Packages []string
	// Bootstrap commands run once as root by cloud-init, in order, after the
	// packages are installed, as one sh script under set -e: a command that
	// fails ends the bootstrap (but not one inside an && list). On a host
	// not booted with cloud-init the cycle runs the same script over SSH.
	Bootstrap []string
	// Uploads are copied over SFTP before the first step.
	Uploads []Upload
	Steps   []Step
}

// Upload is one file copied to the host.
type Upload struct {
	// Src is relative to the suite file's directory in the file; LoadSuite
	// makes it absolute.
	Src string
	// Dst is an absolute path on the host.
	Dst  string
	Mode fs.FileMode

	line int
}

// Step is one verification command.
type Step struct {
	Name string
	// Run is a bash script, run through a login shell as the suite's user.
	Run string
	// Timeout is 0 in a suite that sets none; Load fills in step-timeout.
	Timeout time.Duration
	// Needs lists host capabilities the step requires; only "kvm" exists.
	// On the no-KVM lane such a step reads n/a instead of running.
	Needs []string
	// Column is the matrix column the step's result feeds; empty for none.
	Column matrix.Column
	// Parse is ParseLibtest (count libtest results; "running 0 tests" is
	// not run), ParseExit (exit status only) or ParsePassFail (exit status
	// and PASS/FAIL lines).
	Parse string
	// Env is exported to the step, after the suite variables (MVM_REPO,
	// MVM_REF, MVM_USER), which it may override.
	Env map[string]string
}

// Step result parsers.
const (
	ParseExit    = "exit"
	ParseLibtest = "libtest"
	// ParsePassFail reads a script that prints PASS/FAIL lines (the mvm
	// smoke's scripts/smoke-exec.sh): a non-zero exit or a line starting
	// with FAIL fails the step, exit 0 without a PASS line is not run.
	ParsePassFail = "passfail"
)

// parseModes are the parse values a step may have; parseExpected lists
// them, each with what it reads, in the error that refuses another.
var parseModes = []string{ParseExit, ParseLibtest, ParsePassFail}

const parseExpected = "one of exit (the exit status), libtest (cargo test results) or passfail (the exit status and PASS/FAIL lines)"

// NeedKVM is the one capability a step can need.
const NeedKVM = "kvm"

// NeedsKVM reports whether the step needs /dev/kvm.
func (s Step) NeedsKVM() bool { return slices.Contains(s.Needs, NeedKVM) }

// DefaultUser is the suite user when the file names none.
const DefaultUser = "mvm"

//go:embed default-suite.yml
var defaultSuiteYAML []byte

// DefaultSuiteName is the built-in suite's Name.
const DefaultSuiteName = "default-suite.yml (built-in)"

// DefaultSuiteYAML returns the built-in suite's file, for users to copy.
func DefaultSuiteYAML() []byte { return append([]byte(nil), defaultSuiteYAML...) }

// DefaultSuite is the built-in mvm suite: the W7 verification cycle of
// MVM-SUITE.md. It is parsed from the embedded file by the same loader as
// user suites; a parse failure is a bug caught by the tests.
func DefaultSuite() *Suite {
	s, err := ParseSuite(DefaultSuiteName, defaultSuiteYAML)
	if err != nil {
		panic("config: built-in suite: " + err.Error())
	}
	return s
}

// LoadSuite reads and validates a suite file. Upload sources are resolved
// against the file's directory and must exist.
func LoadSuite(path string) (*Suite, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read suite: %w", err)
	}
	s, err := ParseSuite(path, data)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("resolve suite directory: %w", err)
	}
	var errs []error
	for i := range s.Uploads {
		u := &s.Uploads[i]
		src := u.Src
		if !filepath.IsAbs(src) {
			src = filepath.Join(dir, src)
		}
		fi, err := os.Stat(src)
		switch {
		case err != nil:
			errs = append(errs, &FieldError{File: path, Line: u.line, Field: fmt.Sprintf("uploads[%d].src", i),
				Value: u.Src, Expected: "a file relative to " + dir + " (" + err.Error() + ")"})
		case !fi.Mode().IsRegular():
			errs = append(errs, &FieldError{File: path, Line: u.line, Field: fmt.Sprintf("uploads[%d].src", i),
				Value: u.Src, Expected: "a regular file, not " + fi.Mode().Type().String()})
		}
		u.Src = src
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

var (
	packageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.:=~-]*$`)
	envName     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

var suiteKeys = []string{"user", "packages", "bootstrap", "uploads", "steps"}
var uploadKeys = []string{"src", "dst", "mode"}
var stepKeys = []string{"name", "run", "timeout", "needs", "column", "parse", "env"}

// ParseSuite parses and validates suite YAML; name is used in errors
// ("suite.yml:7: …"). Every problem found is reported, joined.
func ParseSuite(name string, data []byte) (*Suite, error) {
	root, err := parseYAML(name, data)
	var fe *FieldError
	if errors.As(err, &fe) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%s: not valid YAML: %w", name, err)
	}
	if isNull(root) {
		return nil, &FieldError{File: name, Problem: "empty", Expected: "a suite with at least one step"}
	}
	r := &nodeReader{file: name}
	s := &Suite{Name: name, User: DefaultUser}
	var stepsNode *yaml.Node
	r.mapping(root, "", suiteKeys, func(key string, v *yaml.Node) {
		switch key {
		case "user":
			if u, ok := r.scalar(v, key, "a user name"); ok {
				if !providers.ValidUserName(u) {
					r.fail(v, key, u, "a user name like mvm (lowercase letters, digits, - and _)")
					return
				}
				s.User = u
			}
		case "packages":
			r.list(v, key, "a list of apt package names", false, func(_ int, item *yaml.Node, path string) {
				if p, ok := r.scalar(item, path, "an apt package name"); ok {
					if !packageName.MatchString(p) {
						r.fail(item, path, p, "an apt package name like build-essential")
						return
					}
					s.Packages = append(s.Packages, p)
				}
			})
		case "bootstrap":
			r.list(v, key, "a list of shell commands", false, func(_ int, item *yaml.Node, path string) {
				if c, ok := r.scalar(item, path, "a shell command"); ok {
					if strings.TrimSpace(c) == "" {
						r.fail(item, path, c, "a shell command")
						return
					}
					s.Bootstrap = append(s.Bootstrap, c)
				}
			})
		case "uploads":
			r.list(v, key, "a list of {src, dst, mode}", false, func(_ int, item *yaml.Node, path string) {
				if u, ok := r.upload(item, path); ok {
					s.Uploads = append(s.Uploads, u)
				}
			})
		case "steps":
			stepsNode = v
		}
	})
	if stepsNode == nil && len(r.errs) == 0 {
		r.problem(root, "steps", "missing", "a list of steps")
	}
	if stepsNode != nil {
		first := map[string]string{}
		r.list(stepsNode, "steps", "a list of steps", false, func(_ int, item *yaml.Node, path string) {
			st, ok := r.step(item, path)
			if !ok {
				return
			}
			if prev, dup := first[st.Name]; dup {
				r.fail(item, path+".name", st.Name, "a name no other step has ("+prev+" has it)")
				return
			}
			first[st.Name] = path
			s.Steps = append(s.Steps, st)
		})
		if len(r.errs) == 0 && len(s.Steps) == 0 {
			r.problem(stepsNode, "steps", "empty", "at least one step")
		}
	}
	if err := r.err(); err != nil {
		return nil, err
	}
	return s, nil
}

func (r *nodeReader) upload(n *yaml.Node, field string) (Upload, bool) {
	u := Upload{Mode: 0o644, line: n.Line}
	before := len(r.errs)
	r.mapping(n, field, uploadKeys, func(key string, v *yaml.Node) {
		path := join(field, key)
		switch key {
		case "src":
			if src, ok := r.scalar(v, path, "a file relative to the suite file"); ok {
				u.Src = src
			}
		case "dst":
			if dst, ok := r.scalar(v, path, "an absolute path on the host"); ok {
				if !strings.HasPrefix(dst, "/") {
					r.fail(v, path, dst, "an absolute path on the host like /usr/local/bin/tool")
					return
				}
				u.Dst = dst
			}
		case "mode":
			if m, ok := r.scalar(v, path, "a file mode like 0755"); ok {
				mode, err := strconv.ParseUint(strings.TrimPrefix(m, "0o"), 8, 32)
				if err != nil || mode > 0o7777 {
					r.fail(v, path, m, "an octal file mode like 0755")
					return
				}
				u.Mode = fs.FileMode(mode)
			}
		}
	})
	if len(r.errs) > before {
		return u, false
	}
	if u.Src == "" {
		r.problem(n, join(field, "src"), "missing", "a file relative to the suite file")
	}
	if u.Dst == "" {
		r.problem(n, join(field, "dst"), "missing", "an absolute path on the host")
	}
	return u, len(r.errs) == before
}

func (r *nodeReader) step(n *yaml.Node, field string) (Step, bool) {
	st := Step{Parse: ParseExit}
	before := len(r.errs)
	columns := make([]string, 0, len(matrix.Columns()))
	for _, c := range matrix.Columns() {
		columns = append(columns, strconv.Quote(string(c)))
	}
	r.mapping(n, field, stepKeys, func(key string, v *yaml.Node) {
		path := join(field, key)
		switch key {
		case "name":
			if name, ok := r.scalar(v, path, "a step name"); ok {
				if strings.TrimSpace(name) == "" || strings.ContainsAny(name, "\r\n") {
					r.fail(v, path, name, "a one-line step name")
					return
				}
				st.Name = name
			}
		case "run":
			if run, ok := r.scalar(v, path, "a shell command"); ok {
				if strings.TrimSpace(run) == "" {
					r.fail(v, path, run, "a shell command")
					return
				}
				st.Run = run
			}
		case "timeout":
			if t, ok := r.scalar(v, path, "a duration like 10m"); ok {
				d, err := time.ParseDuration(t)
				if err != nil || d <= 0 {
					r.fail(v, path, t, "a duration like 10m or 1h30m")
					return
				}
				st.Timeout = d
			}
		case "needs":
			r.list(v, path, "a list of capabilities: [kvm]", true, func(_ int, item *yaml.Node, ipath string) {
				if need, ok := r.scalar(item, ipath, "kvm"); ok {
					if need != NeedKVM {
						r.fail(item, ipath, need, "kvm (the only capability a step can need)")
						return
					}
					if !slices.Contains(st.Needs, need) {
						st.Needs = append(st.Needs, need)
					}
				}
			})
		case "column":
			if isNull(v) {
				return
			}
			if c, ok := r.scalar(v, path, "a matrix column"); ok {
				col := matrix.Column(c)
				if !slices.Contains(matrix.Columns(), col) {
					r.fail(v, path, c, "one of "+strings.Join(columns, ", ")+", or no column")
					return
				}
				st.Column = col
			}
		case "parse":
			if p, ok := r.scalar(v, path, parseExpected); ok {
				if !slices.Contains(parseModes, p) {
					r.fail(v, path, p, parseExpected)
					return
				}
				st.Parse = p
			}
		case "env":
			if isNull(v) {
				return
			}
			st.Env = map[string]string{}
			r.mapping(v, path, nil, func(name string, ev *yaml.Node) {
				vpath := join(path, name)
				if !envName.MatchString(name) {
					r.fail(ev, path, name, "environment variable names like MVM_LIVE_SMOKE (letters, digits, _)")
					return
				}
				if isNull(ev) {
					st.Env[name] = ""
					return
				}
				if val, ok := r.scalar(ev, vpath, "a string"); ok {
					st.Env[name] = val
				}
			})
		}
	})
	if len(r.errs) > before {
		return st, false
	}
	if st.Name == "" {
		r.problem(n, join(field, "name"), "missing", "a step name")
	}
	if st.Run == "" {
		r.problem(n, join(field, "run"), "missing", "a shell command")
	}
	return st, len(r.errs) == before
}

// WrittenPaths lists the absolute paths the bootstrap visibly writes, in
// order and once each: the targets of > and >>, the operands of tee,
// mkdir and touch, and the last operand of install, cp, mv and ln —
// outside scratch places (/tmp, /var/tmp, /dev, /proc, /sys, /run). It
// reads each command as words, not as a shell would: a path held in a
// variable or written by another program is not seen, so the list is for
// telling the user what a suite changes, never for undoing it.
func (s *Suite) WrittenPaths() []string {
	var out []string
	add := func(w string) {
		w = strings.Trim(w, `'"`)
		if !strings.HasPrefix(w, "/") || strings.ContainsAny(w, "$`*?") || slices.Contains(out, w) {
			return
		}
		for _, scratch := range []string{"/tmp", "/var/tmp", "/dev", "/proc", "/sys", "/run"} {
			if w == scratch || strings.HasPrefix(w, scratch+"/") {
				return
			}
		}
		out = append(out, w)
	}
	for _, cmd := range s.Bootstrap {
		for _, simple := range strings.FieldsFunc(cmd, func(r rune) bool { return strings.ContainsRune("\n;&|()", r) }) {
			words := strings.Fields(simple)
			var operands []string
			for i := 0; i < len(words); i++ {
				w := words[i]
				switch {
				case w == ">" || w == ">>":
					if i+1 < len(words) {
						add(words[i+1])
						i++
					}
				case strings.HasPrefix(w, ">"):
					add(strings.TrimLeft(w, ">"))
				case !strings.HasPrefix(w, "-"):
					operands = append(operands, w)
				}
			}
			if len(operands) > 0 && operands[0] == "sudo" {
				operands = operands[1:]
			}
			if len(operands) < 2 {
				continue
			}
			switch operands[0] {
			case "tee", "mkdir", "touch":
				for _, w := range operands[1:] {
					add(w)
				}
			case "install", "cp", "mv", "ln":
				add(operands[len(operands)-1])
			}
		}
	}
	return out
}
