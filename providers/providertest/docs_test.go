package providertest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
)

// TestProviderGuideNamesEveryOptionalInterface: docs/providers.md lists
// each optional interface a provider may implement with its method and
// the file it lives in. Every row must match the code, and every
// interface the providers package declares, bar Provider and Journal
// themselves, must have a row: a new one is documented or this fails.
func TestProviderGuideNamesEveryOptionalInterface(t *testing.T) {
	root := filepath.Join("..", "..")
	guide, err := os.ReadFile(filepath.Join(root, "docs", "providers.md"))
	if err != nil {
		t.Fatal(err)
	}
	// | `Poller` (`PollInterval() time.Duration`) | providers/leakcheck.go | …
	rows := regexp.MustCompile("(?m)^\\| `(\\w+)` \\(`(\\w+)\\(.*?`\\) \\| (providers/\\w+\\.go) \\|").FindAllSubmatch(guide, -1)
	documented := map[string]bool{}
	for _, r := range rows {
		iface, method, file := string(r[1]), string(r[2]), string(r[3])
		documented[iface] = true
		methods, ok := interfacesIn(t, filepath.Join(root, file))[iface]
		if !ok {
			t.Errorf("docs/providers.md: %s does not declare interface %s", file, iface)
			continue
		}
		if len(methods) != 1 || methods[0] != method {
			t.Errorf("docs/providers.md: %s in %s has methods %v, the guide says %s", iface, file, methods, method)
		}
	}
	files, err := filepath.Glob(filepath.Join(root, "providers", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, f := range files {
		for iface := range interfacesIn(t, f) {
			if iface != "Provider" && iface != "Journal" {
				declared = append(declared, iface)
			}
		}
	}
	sort.Strings(declared)
	if len(declared) == 0 {
		t.Fatal("found no interfaces in providers/*.go")
	}
	for _, iface := range declared {
		if !documented[iface] {
			t.Errorf("providers.%s is an optional interface the guide (docs/providers.md) does not list", iface)
		}
	}
}

// interfacesIn maps the exported interface types declared in a Go file
// (tests aside) to their method names.
func interfacesIn(t *testing.T, file string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	if filepath.Ext(file) != ".go" || regexp.MustCompile(`_test\.go$`).MatchString(file) {
		return out
	}
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, s := range g.Specs {
			ts, ok := s.(*ast.TypeSpec)
			if !ok || !ts.Name.IsExported() {
				continue
			}
			it, ok := ts.Type.(*ast.InterfaceType)
			if !ok {
				continue
			}
			var methods []string
			for _, m := range it.Methods.List {
				for _, n := range m.Names {
					methods = append(methods, n.Name)
				}
			}
			out[ts.Name.Name] = methods
		}
	}
	return out
}
