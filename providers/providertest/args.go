package providertest

import "strings"

// WithArgs is base with extra's flags given instead of base's own: the
// binary refuses a flag given twice, so a scenario that changes one of
// RunArgs' flags (--region, --ssh-source-cidr) replaces it rather than
// adding a second. base's flags each take a value, as --name value or
// --name=value; extra comes last, as given.
func WithArgs(base []string, extra ...string) []string {
	given := map[string]bool{}
	for _, a := range extra {
		if name, ok := flagOf(a); ok {
			given[name] = true
		}
	}
	var out []string
	for i := 0; i < len(base); i++ {
		name, ok := flagOf(base[i])
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

// flagOf is the name of a --name or --name=value argument.
func flagOf(arg string) (string, bool) {
	if !strings.HasPrefix(arg, "-") || arg == "-" || arg == "--" {
		return "", false
	}
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return name, true
}
