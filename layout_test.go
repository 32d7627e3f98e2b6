package main

import (
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// module is this repository's module path.
const module = "github.com/tinylabscom/mvm-verify"

// arrow forbids the packages matching from (and every package they link,
// test files aside) to depend on a package matching any of not. Patterns
// are module-relative: "x/..." is x and everything below it, "*" is one
// path element, "." the module's root (the binary).
type arrow struct {
	from string
	not  []string
	why  string
}

// arrows are the dependency rules of DESIGN §3, as docs/architecture.md
// states them.
var arrows = []arrow{
	{from: "providers/...", not: []string{"internal/verify", "internal/cli", "internal/ghreport", "internal/summary"},
		why: "a provider is a room you can work in without the cycle, the faces or the reporting"},
	{from: "internal/matrix", not: []string{"..."},
		why: "the matrix model imports nothing of ours, so every report can use it"},
	{from: "internal/ghreport", not: []string{"internal/verify", "internal/cli", "providers/..."},
		why: "GitHub reporting works on matrix rows, not on the cycle or the providers"},
	{from: "internal/verify", not: []string{"internal/cli", "internal/ghreport", "internal/summary"},
		why: "the cycle returns a Result; rendering and posting it is the faces' business"},
	{from: "internal/remote", not: []string{"internal/verify", "internal/cli", "providers/...", "internal/ghreport"},
		why: "SSH knows nothing of the cycle or of clouds"},
	{from: "internal/cloudinit", not: []string{"internal/verify", "internal/cli", "providers/...", "internal/ghreport"},
		why: "user data is rendered from plain values"},
	{from: "internal/probe", not: []string{"internal/verify", "internal/cli", "providers/...", "internal/ghreport"},
		why: "the probe runs on the host, alone"},
	{from: ".", not: []string{"internal/testhost", "providers/fakecloud", "providers/providertest", "providers/*/fake", "internal/ghreport/fakegh"},
		why: "test hosts and fakes are for tests; the shipped binary does not link them"},
}

// match reports whether the module package pkg (module-relative, "." for
// the root) matches pattern.
func match(pattern, pkg string) bool {
	if pattern == "..." {
		return pkg != "."
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	ok, _ := path.Match(pattern, pkg)
	return ok
}

// say is a pattern in an error message.
func say(pattern string) string {
	switch pattern {
	case "...":
		return "any package of the module"
	case ".":
		return "the binary (" + module + ")"
	}
	return pattern
}

// moduleDeps maps every package of the module (module-relative) to the
// module packages it links, directly or not, test files aside: what `go
// list -deps` says of each.
func moduleDeps(t *testing.T) map[string][]string {
	t.Helper()
	return moduleList(t, "Deps")
}

// moduleImports maps every package of the module (module-relative) to the
// module packages it imports directly, test files aside.
func moduleImports(t *testing.T) map[string][]string {
	t.Helper()
	return moduleList(t, "Imports")
}

// moduleList maps every package of the module to the module packages in
// its go list field (Deps or Imports).
func moduleList(t *testing.T, field string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range ."+field+"}} {{.}}{{end}}", "./...")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./... (%s): %v", field, err)
	}
	rel := func(p string) (string, bool) {
		if p == module {
			return ".", true
		}
		r, ok := strings.CutPrefix(p, module+"/")
		return r, ok
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, ok := rel(f[0])
		if !ok {
			t.Fatalf("go list ./... names %s, outside module %s", f[0], module)
		}
		deps[pkg] = []string{}
		for _, d := range f[1:] {
			if r, ok := rel(d); ok {
				deps[pkg] = append(deps[pkg], r)
			}
		}
	}
	return deps
}

// TestDependencyArrows: the arrows of DESIGN §3 hold for every package of
// the module, not only the ones a test happens to look at. Each rule must
// name packages that exist, so a rename cannot make it hold vacuously.
func TestDependencyArrows(t *testing.T) {
	deps := moduleDeps(t)
	pkgs := slices.Sorted(func(yield func(string) bool) {
		for p := range deps {
			if !yield(p) {
				return
			}
		}
	})
	if !slices.Contains(deps["."], "internal/cli") || !slices.Contains(deps["internal/verify"], "providers") {
		t.Fatalf("go list did not report the module's imports as expected (the binary links internal/cli, the cycle providers): %v", deps)
	}
	for _, a := range arrows {
		var from []string
		for _, p := range pkgs {
			if match(a.from, p) {
				from = append(from, p)
			}
		}
		if len(from) == 0 {
			t.Errorf("rule for %s: no package of the module matches it; update the rule and docs/architecture.md", say(a.from))
		}
		for _, pat := range a.not {
			if !slices.ContainsFunc(pkgs, func(p string) bool { return match(pat, p) }) {
				t.Errorf("rule for %s: no package of the module matches %s; update the rule and docs/architecture.md", say(a.from), say(pat))
			}
		}
		for _, p := range from {
			for _, d := range deps[p] {
				for _, pat := range a.not {
					if match(pat, d) {
						t.Errorf("%s depends on %s, against the rule that %s must not depend on %s (%s)", p, d, say(a.from), say(pat), a.why)
					}
				}
			}
		}
	}
}

// sharedProviders are the packages under providers/ that are no adapter:
// the contract and what every adapter's tests are built from. Any other
// providers/<name> is an adapter, with the packages below it (its fake).
var sharedProviders = []string{"providers/fakecloud", "providers/providertest"}

// adapterOf is the adapter a module package belongs to ("aws" for
// providers/aws and providers/aws/fake), or "" for any other package.
func adapterOf(pkg string) string {
	rest, ok := strings.CutPrefix(pkg, "providers/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	if slices.Contains(sharedProviders, "providers/"+name) {
		return ""
	}
	return name
}

// TestAdaptersStandAlone: no provider adapter, nor its fake, depends on
// another adapter (DESIGN §3: a provider is a room you can work in without
// reading the others); what they share lives in providers,
// providers/fakecloud and providers/providertest.
func TestAdaptersStandAlone(t *testing.T) {
	deps := moduleDeps(t)
	adapters := map[string]bool{}
	for p := range deps {
		if a := adapterOf(p); a != "" {
			adapters[a] = true
		}
	}
	for _, want := range []string{"aws", "local", "ssh"} {
		if !adapters[want] {
			t.Errorf("no package providers/%s: the rule names adapters that do not exist; update it and docs/architecture.md", want)
		}
	}
	for _, shared := range sharedProviders {
		if _, ok := deps[shared]; !ok {
			t.Errorf("no package %s: update sharedProviders and docs/architecture.md", shared)
		}
	}
	for p, ds := range deps {
		a := adapterOf(p)
		if a == "" {
			continue
		}
		for _, d := range ds {
			if b := adapterOf(d); b != "" && b != a {
				t.Errorf("%s depends on %s: adapter %s must not depend on adapter %s (a provider is a room you can work in without reading the others; move what they share to providers)", p, d, a, b)
			}
		}
	}
}

// TestArchitectureDocArrows: the arrow lines of docs/architecture.md
// ("a, b → c, d   (comment)", internal/ left out, main the binary,
// providers/{x,y} for several) are every direct import between the
// module's packages, no more and no fewer, so the page cannot drift from
// the code.
func TestArchitectureDocArrows(t *testing.T) {
	doc, err := os.ReadFile("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Arrows\n")
	if !ok {
		t.Fatal("docs/architecture.md has no ## Arrows section")
	}
	_, block, ok := strings.Cut(section, "```\n")
	if ok {
		block, _, ok = strings.Cut(block, "```")
	}
	if !ok {
		t.Fatal("docs/architecture.md's Arrows section has no ``` block")
	}
	imports := moduleImports(t)
	resolve := func(name string) string {
		if name == "main" {
			return "."
		}
		if _, ok := imports["internal/"+name]; ok {
			return "internal/" + name
		}
		if _, ok := imports[name]; !ok {
			t.Errorf("docs/architecture.md's arrows name %q, which is no package of the module", name)
		}
		return name
	}
	names := func(list string) []string {
		var out []string
		for _, item := range strings.Split(list, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			out = append(out, resolve(item))
		}
		return out
	}
	said := map[string]map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		from, to, ok := strings.Cut(line, " → ")
		if !ok {
			t.Errorf("docs/architecture.md arrow line %q: want FROM → TO", line)
			continue
		}
		to, _, _ = strings.Cut(to, " (") // the comment
		to = strings.TrimSpace(to)
		to = braces.ReplaceAllStringFunc(to, func(m string) string {
			sub := braces.FindStringSubmatch(m)
			var out []string
			for _, s := range strings.Split(sub[2], ",") {
				out = append(out, sub[1]+s)
			}
			return strings.Join(out, ", ")
		})
		var targets []string
		if to != "nothing of ours" {
			targets = names(to)
		}
		for _, f := range names(from) {
			if said[f] == nil {
				said[f] = map[string]bool{}
			}
			for _, d := range targets {
				said[f][d] = true
			}
		}
	}
	for p, ds := range imports {
		for _, d := range ds {
			if !said[p][d] {
				t.Errorf("%s imports %s, but docs/architecture.md's arrows do not say so", say(p), d)
			}
		}
	}
	for p, ds := range said {
		for d := range ds {
			if !slices.Contains(imports[p], d) {
				t.Errorf("docs/architecture.md's arrows say %s → %s, but it does not import it", say(p), d)
			}
		}
	}
}

// braces is one providers/{a,b} group in an arrow line.
var braces = regexp.MustCompile(`(\S*)\{([^}]*)\}`)

// TestArchitectureDocNamesEveryPackage: docs/architecture.md says what
// each package of the module is for, so a new package comes with its line
// there (and with the rules it keeps, above).
func TestArchitectureDocNamesEveryPackage(t *testing.T) {
	doc, err := os.ReadFile("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	deps := moduleDeps(t)
	for p := range deps {
		if p == "." {
			continue
		}
		if !strings.Contains(string(doc), "`"+p+"`") {
			t.Errorf("docs/architecture.md does not name package `%s`", p)
		}
	}
}

// TestArrowMatch pins the pattern forms the rules use.
func TestArrowMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, pkg string
		want         bool
	}{
		{"providers/...", "providers", true},
		{"providers/...", "providers/aws/fake", true},
		{"providers/...", "providersx", false},
		{"providers/*/fake", "providers/aws/fake", true},
		{"providers/*/fake", "providers/aws", false},
		{"internal/verify", "internal/verify", true},
		{"internal/verify", "internal/verifyx", false},
		{"...", "internal/waits", true},
		{"...", ".", false},
		{".", ".", true},
	} {
		if got := match(tc.pattern, tc.pkg); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.pkg, got, tc.want)
		}
	}
}
