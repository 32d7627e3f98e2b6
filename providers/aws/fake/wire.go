package fake

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// apiError is an error answered in the service's wire format.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalidValue(format string, args ...any) *apiError {
	return errf(http.StatusBadRequest, "InvalidParameterValue", format, args...)
}

// xmlDoc builds an XML response body. Element names and text are written
// escaped; it keeps the handlers free of templates.
type xmlDoc struct {
	b     strings.Builder
	stack []string
}

func newXML(root, ns string) *xmlDoc {
	d := &xmlDoc{}
	d.b.WriteString(xml.Header)
	fmt.Fprintf(&d.b, `<%s xmlns="%s">`, root, ns)
	d.stack = append(d.stack, root)
	return d
}

func (d *xmlDoc) open(name string) *xmlDoc {
	fmt.Fprintf(&d.b, "<%s>", name)
	d.stack = append(d.stack, name)
	return d
}

func (d *xmlDoc) close() *xmlDoc {
	n := d.stack[len(d.stack)-1]
	d.stack = d.stack[:len(d.stack)-1]
	fmt.Fprintf(&d.b, "</%s>", n)
	return d
}

func (d *xmlDoc) el(name, text string) *xmlDoc {
	fmt.Fprintf(&d.b, "<%s>", name)
	xml.EscapeText(&d.b, []byte(text)) //nolint:errcheck // strings.Builder does not fail
	fmt.Fprintf(&d.b, "</%s>", name)
	return d
}

func (d *xmlDoc) tags(tags map[string]string) *xmlDoc {
	d.open("tagSet")
	for _, k := range sortedKeys(tags) {
		d.open("item").el("key", k).el("value", tags[k]).close()
	}
	return d.close()
}

func (d *xmlDoc) String() string {
	for len(d.stack) > 0 {
		d.close()
	}
	return d.b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// params is one Query-protocol request's form values with the checks EC2
// and STS make: parameters the action does not know are refused, and so are
// missing required ones.
type params struct {
	v url.Values
}

var index = regexp.MustCompile(`\.\d+(\.|$)`)

// shape reduces "TagSpecification.1.Tag.2.Key" to "TagSpecification.N.Tag.N.Key".
func shape(key string) string {
	for {
		s := index.ReplaceAllString(key, ".N$1")
		if s == key {
			return s
		}
		key = s
	}
}

// check refuses a parameter not in allowed (nor Action and Version, which
// every request has) and a missing one of required.
func (p params) check(allowed, required []string) *apiError {
	ok := map[string]bool{"Action": true, "Version": true}
	for _, a := range allowed {
		ok[a] = true
	}
	keys := make([]string, 0, len(p.v))
	for k := range p.v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !ok[shape(k)] {
			return errf(http.StatusBadRequest, "UnknownParameter", "The parameter %s is not recognized", k)
		}
	}
	for _, r := range required {
		if p.v.Get(r) == "" {
			return errf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter %s", r)
		}
	}
	return nil
}

func (p params) get(k string) string { return p.v.Get(k) }

// list returns prefix.1, prefix.2, … until the first gap.
func (p params) list(prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := p.v[prefix+"."+strconv.Itoa(i)]
		if !ok || len(v) == 0 {
			return out
		}
		out = append(out, v[0])
	}
}

type filter struct {
	name   string
	values []string
}

func (p params) filters() []filter {
	var out []filter
	for i := 1; ; i++ {
		pre := "Filter." + strconv.Itoa(i)
		name := p.get(pre + ".Name")
		if name == "" {
			return out
		}
		out = append(out, filter{name: name, values: p.list(pre + ".Value")})
	}
}

// tagSpecs returns the tags requested for each resource type.
func (p params) tagSpecs() (map[string]map[string]string, *apiError) {
	out := map[string]map[string]string{}
	for i := 1; ; i++ {
		pre := "TagSpecification." + strconv.Itoa(i)
		rt := p.get(pre + ".ResourceType")
		if rt == "" {
			if p.get(pre+".Tag.1.Key") != "" {
				return nil, errf(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter %s.ResourceType", pre)
			}
			return out, nil
		}
		tags := map[string]string{}
		for j := 1; ; j++ {
			k := p.get(pre + ".Tag." + strconv.Itoa(j) + ".Key")
			if k == "" {
				break
			}
			tags[k] = p.get(pre + ".Tag." + strconv.Itoa(j) + ".Value")
		}
		out[rt] = tags
	}
}

func (p params) flat() map[string]string {
	m := make(map[string]string, len(p.v))
	for k, v := range p.v {
		if len(v) > 0 {
			m[k] = v[0]
		}
	}
	return m
}

// matchValues is EC2's filter value match: any value, with * and ? wildcards.
func matchValues(values []string, got string) bool {
	for _, v := range values {
		if ok, _ := wildcard(v, got); ok {
			return true
		}
	}
	return false
}

func wildcard(pattern, s string) (bool, error) {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	return regexp.MatchString(re, s)
}

// tagFilter handles the tag:<key> and tag-key filters every resource has.
// matches reports whether a resource passes every filter: tag filters
// against its tags, the others against its fields by filter name (names
// were checked against the call's known filters by checkRequest).
// multi holds the fields of several values (an instance's groups): the
// filter matches when any of them does.
func matches(fs []filter, tags, fields map[string]string, multi map[string][]string) bool {
	for _, f := range fs {
		if m, ok := tagFilter(f, tags); ok {
			if !m {
				return false
			}
			continue
		}
		if vs, ok := multi[f.name]; ok {
			if !slices.ContainsFunc(vs, func(v string) bool { return matchValues(f.values, v) }) {
				return false
			}
			continue
		}
		if !matchValues(f.values, fields[f.name]) {
			return false
		}
	}
	return true
}

func tagFilter(f filter, tags map[string]string) (match, handled bool) {
	if k, ok := strings.CutPrefix(f.name, "tag:"); ok {
		v, has := tags[k]
		return has && matchValues(f.values, v), true
	}
	if f.name == "tag-key" || f.name == "tag-value" {
		for k, v := range tags {
			if (f.name == "tag-key" && matchValues(f.values, k)) || (f.name == "tag-value" && matchValues(f.values, v)) {
				return true, true
			}
		}
		return false, true
	}
	return false, false
}
