// Package libtest reads the output of Rust's libtest (`cargo test`) and turns
// it into counts and a verdict. "running 0 tests" is never a pass: on a
// non-Linux target the seccomp test compiles to nothing, and env-gated tests
// that print "skipped" and return are not a pass either.
package libtest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Summary adds up every test binary in one output.
type Summary struct {
	// Binaries is how many test binaries (unit, integration, doc-tests) started.
	Binaries    int
	Passed      int
	Failed      int
	Ignored     int
	Measured    int
	FilteredOut int
	// ZeroTestBinaries ran no test at all ("running 0 tests").
	ZeroTestBinaries int
	// Skipped counts passing tests whose output says "skipped" or "skipping":
	// env-gated tests that returned early. Passing tests' output is only
	// visible with `--nocapture` or `--show-output`.
	Skipped int
	// Aborted counts binaries that started but never printed their result
	// (killed by a signal, aborted).
	Aborted int
	// Failures names the failing tests in the order they were reported; a test
	// running when its binary aborted is included.
	Failures []string
	// Interrupted names the tests that were running when their binary
	// stopped without a result (also in Failures), so the verdict names the
	// test a crash happened in, not a failure reported before it.
	Interrupted []string `json:",omitempty"`
}

// Verdict is what a step's result reads as.
type Verdict int

const (
	NotRun Verdict = iota
	Pass
	Fail
)

func (v Verdict) String() string {
	switch v {
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	}
	return "not run"
}

var (
	ansiPattern    = regexp.MustCompile(`\x1b(\[[0-9;?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[@-Z\\-_])`)
	runningPattern = regexp.MustCompile(`^running (\d+) tests?$`)
	testPattern    = regexp.MustCompile(`^test (.+?) \.\.\. ?(.*)$`)
	resultPattern  = regexp.MustCompile(`^test result: (ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored; (\d+) measured; (\d+) filtered out`)
	sectionPattern = regexp.MustCompile(`^---- (.+) std(out|err) ----$`)
	skipPattern    = regexp.MustCompile(`(?i)\bskip(ped|ping)\b`)
)

// outcome of one test as its own line reported it.
type outcome int

const (
	running outcome = iota
	passed
	failed
	ignored
)

// binary is the state of the test binary being read.
type binary struct {
	order   []string
	results map[string]outcome
	output  map[string]*strings.Builder
	// pending is the test whose "test NAME ... " line had no result yet
	// (--test-threads=1 with --nocapture prints output in between).
	pending string
	// section is the test whose captured output ("---- NAME stdout ----") is
	// being read.
	section string
	// inFailList is true after a "failures:" header that no output section
	// followed: the indented lines are then failing test names.
	inFailList bool
}

func newBinary() *binary {
	return &binary{results: map[string]outcome{}, output: map[string]*strings.Builder{}}
}

func (b *binary) set(name string, o outcome) {
	if _, seen := b.results[name]; !seen {
		b.order = append(b.order, name)
	}
	b.results[name] = o
}

func (b *binary) write(name, line string) {
	w, ok := b.output[name]
	if !ok {
		w = &strings.Builder{}
		b.output[name] = w
	}
	w.WriteString(line)
	w.WriteByte('\n')
}

// StripANSI removes terminal colour and cursor sequences from s: scripts
// colour their PASS/FAIL words as cargo colours its own.
func StripANSI(s string) string { return ansiPattern.ReplaceAllString(s, "") }

// Parse reads libtest output, possibly with cargo's own lines interleaved,
// CRLF line ends and ANSI colours.
func Parse(output []byte) Summary {
	var (
		s   Summary
		cur *binary
	)
	abort := func() {
		s.Aborted++
		s.Failures = append(s.Failures, cur.failures()...)
		if cur.pending != "" {
			s.Failures = append(s.Failures, cur.pending)
			s.Interrupted = append(s.Interrupted, cur.pending)
		}
		cur = nil
	}

	for _, line := range strings.Split(string(output), "\n") {
		line = strings.TrimRight(StripANSI(line), "\r")
		if m := runningPattern.FindStringSubmatch(line); m != nil {
			if cur != nil {
				abort()
			}
			s.Binaries++
			cur = newBinary()
			continue
		}
		if cur == nil {
			continue
		}
		if m := resultPattern.FindStringSubmatch(line); m != nil {
			counts := make([]int, 5)
			for i := range counts {
				counts[i], _ = strconv.Atoi(m[i+2])
			}
			s.Passed += counts[0]
			s.Failed += counts[1]
			s.Ignored += counts[2]
			s.Measured += counts[3]
			s.FilteredOut += counts[4]
			if counts[0]+counts[1]+counts[2]+counts[3] == 0 {
				s.ZeroTestBinaries++
			}
			s.Failures = append(s.Failures, cur.failures()...)
			s.Skipped += cur.skipped()
			cur = nil
			continue
		}
		if m := testPattern.FindStringSubmatch(line); m != nil {
			name := strings.TrimSuffix(m[1], " - should panic")
			cur.section = ""
			if o, ok := resultWord(m[2]); ok {
				cur.set(name, o)
				cur.pending = ""
				continue
			}
			cur.set(name, running)
			cur.pending = name
			if m[2] != "" {
				cur.write(name, m[2])
			}
			continue
		}
		if cur.pending != "" {
			if o, ok := resultWord(line); ok {
				cur.set(cur.pending, o)
				cur.pending = ""
			} else {
				cur.write(cur.pending, line)
			}
			continue
		}
		if m := sectionPattern.FindStringSubmatch(line); m != nil {
			cur.section = m[1]
			cur.inFailList = false
			continue
		}
		if line == "successes:" || line == "failures:" {
			cur.section = ""
			cur.inFailList = line == "failures:"
			continue
		}
		// The closing list names every failure, also in formats that print no
		// per-test line (--format terse).
		if cur.inFailList && strings.HasPrefix(line, "    ") && strings.TrimSpace(line) != "" {
			cur.set(strings.TrimSpace(line), failed)
			continue
		}
		if cur.section != "" {
			cur.write(cur.section, line)
		}
	}
	if cur != nil {
		abort()
	}
	return s
}

// resultWord reads what libtest prints after "test NAME ... ". The word may
// be followed by a line of cargo's own, written to stderr before libtest's
// newline ("ok     Running tests/x.rs"): the word still decides, or the test
// would stay running and swallow the output sections after it.
func resultWord(s string) (outcome, bool) {
	s = strings.TrimSpace(s)
	if word, rest, ok := strings.Cut(s, " "); ok && (word == "ok" || word == "FAILED") && cargoLine(rest) {
		s = word
	}
	switch {
	case s == "ok":
		return passed, true
	case s == "FAILED":
		return failed, true
	case s == "ignored" || strings.HasPrefix(s, "ignored, "):
		return ignored, true
	}
	return running, false
}

func (b *binary) failures() []string {
	var names []string
	for _, n := range b.order {
		if b.results[n] == failed {
			names = append(names, n)
		}
	}
	return names
}

func (b *binary) skipped() int {
	n := 0
	for _, name := range b.order {
		if w, ok := b.output[name]; ok && b.results[name] == passed && skipPattern.MatchString(w.String()) {
			n++
		}
	}
	return n
}

// Verdict reads the summary with the command's exit status (cargo test exits
// 101 when a test fails, and also when the build fails).
func (s Summary) Verdict(exitCode int) (Verdict, string) {
	switch {
	case s.Failed > 0:
		if len(s.Failures) == 0 {
			return Fail, fmt.Sprintf("%d failed", s.Failed)
		}
		return Fail, fmt.Sprintf("%d failed, first: %s", s.Failed, s.Failures[0])
	case s.Aborted > 0:
		why := fmt.Sprintf("%d test binary(ies) stopped without a result (crashed or killed)", s.Aborted)
		switch {
		case len(s.Interrupted) > 0:
			why += " while running " + s.Interrupted[0]
		case len(s.Failures) > 0:
			// Stopped between tests, after one had failed.
			why += "; failed: " + s.Failures[0]
		}
		return Fail, why
	case len(s.Failures) > 0:
		return Fail, "failed: " + s.Failures[0]
	case exitCode != 0:
		return Fail, fmt.Sprintf("exit status %d with no failing test: the build failed or a test binary could not run", exitCode)
	case s.Passed == 0:
		return NotRun, "running 0 tests is not run, never a pass" + s.zeroDetail()
	case s.Skipped >= s.Passed:
		return NotRun, fmt.Sprintf("all %d passing tests printed skipped (env-gated): not run", s.Passed)
	case s.Skipped > 0:
		// A gated test that skipped itself checked nothing, whatever the
		// others did: the step did not run all it claims to.
		return NotRun, fmt.Sprintf("%d of %d passing tests printed skipped (env-gated): not run", s.Skipped, s.Passed)
	}
	why := fmt.Sprintf("%d passed", s.Passed)
	if s.Ignored > 0 {
		why += fmt.Sprintf(", %d ignored", s.Ignored)
	}
	return Pass, why
}

func (s Summary) zeroDetail() string {
	var parts []string
	if s.Binaries == 0 {
		parts = append(parts, "no test binary ran")
	} else if s.Binaries == 1 {
		parts = append(parts, "1 binary")
	} else {
		parts = append(parts, fmt.Sprintf("%d binaries", s.Binaries))
	}
	if s.FilteredOut > 0 {
		parts = append(parts, fmt.Sprintf("%d filtered out", s.FilteredOut))
	}
	if s.Ignored > 0 {
		parts = append(parts, fmt.Sprintf("%d ignored", s.Ignored))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// cargoLine reports whether s is one of cargo's status lines ("Running …",
// "Doc-tests …"), which cargo right-aligns with spaces.
func cargoLine(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "Running ") || strings.HasPrefix(s, "Doc-tests ")
}
