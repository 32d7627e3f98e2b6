package cli_test

import "strings"

// withFlags is base with extra's flags given instead of base's own: the
// binary refuses a flag given twice, so a test that changes one of a
// helper's defaults (localRun's --timeout-minutes) replaces it. base's
// flags each take a value, as --name value or --name=value.
func withFlags(base []string, extra ...string) []string {
	given := map[string]bool{}
	for _, a := range extra {
		if name, ok := flagArgName(a); ok {
			given[name] = true
		}
	}
	var out []string
	for i := 0; i < len(base); i++ {
		name, ok := flagArgName(base[i])
		if !ok || !given[name] {
			out = append(out, base[i])
			continue
		}
		if !strings.Contains(base[i], "=") {
			i++ // and its value
		}
	}
	return append(out, extra...)
}

func flagArgName(arg string) (string, bool) {
	if !strings.HasPrefix(arg, "-") || arg == "-" || arg == "--" {
		return "", false
	}
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return name, true
}
