// Command ghoverhead measures what GitHub reporting adds to a leg: it runs
// `mvm-verify` (built by bench/ghoverhead.sh) as an Actions job on a pull
// request with the local provider and a trivial suite, against the fake
// GitHub API (internal/ghreport/fakegh) answering at once, or against a
// loopback port nobody listens on (GitHub unreachable), with the production
// reporting settings. It prints, per run, the time before the cycle starts
// (process start to result.json's started), the cycle, and the time after
// it (the cycle's end to the process's exit), then the medians.
//
// Needs root (the local provider) and sshd, like bench/overhead.sh.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/ghreport/fakegh"
)

const (
	repo  = "o/r"
	head  = "0123456789abcdef0123456789abcdef01234567"
	token = "ghs_benchtoken"
)

func main() {
	bin := flag.String("bin", "", "the mvm-verify binary")
	runs := flag.Int("runs", 3, "legs to run")
	api := flag.String("api", "instant", "instant: the fake answers at once; refused: nothing listens at the API URL")
	flag.Parse()
	if *bin == "" || (*api != "instant" && *api != "refused") {
		fmt.Fprintln(os.Stderr, "usage: ghoverhead -bin PATH [-runs N] [-api instant|refused]")
		os.Exit(2)
	}
	tmp, err := os.MkdirTemp("", "ghoverhead-")
	check(err)
	defer os.RemoveAll(tmp)
	suite := filepath.Join(tmp, "suite.yml")
	check(os.WriteFile(suite, []byte("user: root\nsteps:\n  - name: trivial\n    run: \"true\"\n    column: Live cycle\n"), 0o644))
	event := filepath.Join(tmp, "event.json")
	check(os.WriteFile(event, []byte(`{"pull_request":{"number":7,"head":{"sha":"`+head+
		`","repo":{"full_name":"`+repo+`"}},"base":{"repo":{"full_name":"`+repo+`"}}}}`), 0o644))

	var before, cycle, after []time.Duration
	fmt.Printf("api: %s\n%-4s %10s %10s %10s %10s %s\n", *api, "run", "before_ms", "cycle_ms", "after_ms", "wall_ms", "warnings")
	for i := 1; i <= *runs; i++ {
		url := refusedURL()
		if *api == "instant" {
			gh := fakegh.New()
			gh.AddToken(token, fakegh.Token{Login: "github-actions[bot]"})
			gh.SetPR(repo, fakegh.PR{Number: 7, HeadSHA: head, HeadRepo: repo, BaseRepo: repo})
			defer gh.Close()
			url = gh.URL()
		}
		dir := filepath.Join(tmp, fmt.Sprint(i))
		check(os.MkdirAll(dir, 0o755))
		for _, f := range []string{"summary", "output", "state"} {
			check(os.WriteFile(filepath.Join(dir, f), nil, 0o644))
		}
		out := filepath.Join(dir, "out")
		cmd := exec.Command(*bin)
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + dir,
			"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=" + repo, "GITHUB_RUN_ID=99", "GITHUB_RUN_ATTEMPT=1",
			"GITHUB_JOB=verify", "RUNNER_NAME=runner-1", "GITHUB_SHA=ffffffffffffffffffffffffffffffffffffffff",
			"GITHUB_SERVER_URL=https://github.example", "GITHUB_EVENT_NAME=pull_request", "GITHUB_EVENT_PATH=" + event,
			"GITHUB_STEP_SUMMARY=" + filepath.Join(dir, "summary"), "GITHUB_OUTPUT=" + filepath.Join(dir, "output"),
			"GITHUB_STATE=" + filepath.Join(dir, "state"),
			"INPUT_GITHUB-TOKEN=" + token, "INPUT_GITHUB-API-URL=" + url,
			"INPUT_PROVIDER=local", "INPUT_SUITE=" + suite, "INPUT_OUT=" + out,
			"INPUT_LOCAL-STATE-DIR=" + filepath.Join(dir, "local"),
		}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		runErr := cmd.Run()
		end := time.Now()
		if runErr != nil {
			fmt.Fprintf(os.Stderr, "leg %d: %v\nstdout:\n%s\nstderr:\n%s", i, runErr, stdout.String(), stderr.String())
			os.Exit(1)
		}
		data, err := os.ReadFile(filepath.Join(out, "result.json"))
		check(err)
		var res struct {
			Started  time.Time `json:"started"`
			Duration int64     `json:"duration_ns"`
		}
		check(json.Unmarshal(data, &res))
		b := res.Started.Sub(start)
		c := time.Duration(res.Duration)
		a := end.Sub(res.Started.Add(c))
		before, cycle, after = append(before, b), append(cycle, c), append(after, a)
		warns := strings.Count(stderr.String(), "WARN") + strings.Count(stdout.String(), "::warning")
		fmt.Printf("%-4d %10d %10d %10d %10d %d\n", i, b.Milliseconds(), c.Milliseconds(), a.Milliseconds(), end.Sub(start).Milliseconds(), warns)
	}
	fmt.Printf("median     %10d %10d %10d\n", median(before).Milliseconds(), median(cycle).Milliseconds(), median(after).Milliseconds())
}

// refusedURL is an API URL on loopback where nothing listens, so every
// request is refused at once.
func refusedURL() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/"
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
