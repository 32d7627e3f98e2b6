package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// nodeReader walks a parsed YAML tree and collects a *FieldError, with its
// line, for every key or value that is not what it should be. It is the
// strict decoder yaml.v3 offers only for whole documents: unknown and
// duplicate keys are errors, and scalars are read as text so the error can
// quote what was written.
type nodeReader struct {
	file string
	errs []error
}

func (r *nodeReader) fail(n *yaml.Node, field, value, expected string) {
	r.errs = append(r.errs, &FieldError{File: r.file, Line: line(n), Field: field, Value: value, Expected: expected})
}

func (r *nodeReader) problem(n *yaml.Node, field, problem, expected string) {
	r.errs = append(r.errs, &FieldError{File: r.file, Line: line(n), Field: field, Problem: problem, Expected: expected})
}

func (r *nodeReader) err() error { return errors.Join(r.errs...) }

func line(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

// parseYAML returns the document's root node, nil for an empty document.
// A second document with content after "---" is refused: yaml.Unmarshal
// would read the first and silently drop the rest of the file. An empty
// one (a stray trailing "---") loses nothing and is let be.
func parseYAML(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, fixSyntaxLine(err)
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fixSyntaxLine(err)
		}
		if len(next.Content) > 0 && !isNull(next.Content[0]) {
			// The document node's line is its "---".
			return nil, &FieldError{File: file, Line: next.Line, Problem: "a second YAML document", Expected: "one document per file"}
		}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return resolve(doc.Content[0]), nil
}

// parserProblems are the messages of yaml.v3's parser, as opposed to its
// scanner. For them the library reports the 0-based line of where the
// construct began ("line 3" for a flow list opened on line 4): one is added
// so the line named is the one the user sees in an editor.
var parserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
	"found undefined tag handle",
}

// syntaxError is a YAML syntax error with the line it names.
type syntaxError struct {
	line    int
	problem string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("line %d: %s", e.line, e.problem)
}

func fixSyntaxLine(err error) error {
	var n int
	msg := err.Error()
	rest, ok := strings.CutPrefix(msg, "yaml: line ")
	if !ok {
		return err
	}
	num, problem, ok := strings.Cut(rest, ": ")
	if _, scanErr := fmt.Sscanf(num, "%d", &n); !ok || scanErr != nil {
		return err
	}
	if slices.Contains(parserProblems, problem) {
		n++
	}
	return &syntaxError{line: n, problem: problem}
}

// resolve follows aliases, so anchors in a suite file work as YAML readers expect.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// describe names what a node is, for "got a list" style problems.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a value"
}

// mapping calls fn for every key of a mapping node, in file order. Keys not
// in known (when known is not nil) and repeated keys are errors; so is a node
// that is not a mapping.
func (r *nodeReader) mapping(n *yaml.Node, field string, known []string, fn func(key string, v *yaml.Node)) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		expected := "a mapping"
		if known != nil {
			expected += " with the keys " + strings.Join(known, ", ")
		}
		r.problem(n, field, "got "+describe(n)+valueHint(n), expected)
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		key := k.Value
		path := join(field, key)
		if k.Kind != yaml.ScalarNode {
			r.problem(k, field, "got "+describe(k)+" as a key", "one of the keys "+strings.Join(known, ", "))
			continue
		}
		if known != nil && !slices.Contains(known, key) {
			r.problem(k, field, fmt.Sprintf("unknown key %q", key), "one of "+strings.Join(known, ", "))
			continue
		}
		if first, dup := seen[key]; dup {
			r.problem(k, path, "given twice", fmt.Sprintf("once (first on line %d)", first))
			continue
		}
		seen[key] = k.Line
		fn(key, v)
	}
}

func valueHint(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return fmt.Sprintf(" %q", echo(n.Value))
	}
	return ""
}

// scalar returns the text of a scalar node; a list, mapping or null is an
// error naming what was expected.
func (r *nodeReader) scalar(n *yaml.Node, field, expected string) (string, bool) {
	n = resolve(n)
	if isNull(n) {
		r.problem(n, field, "empty", expected)
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		r.problem(n, field, "got "+describe(n), expected)
		return "", false
	}
	return n.Value, true
}

// list calls fn for each item of a sequence node. A single scalar counts as a
// one-item list when single is true (needs: kvm).
func (r *nodeReader) list(n *yaml.Node, field, expected string, single bool, fn func(i int, item *yaml.Node, path string)) {
	n = resolve(n)
	if single && n.Kind == yaml.ScalarNode && !isNull(n) {
		fn(0, n, field)
		return
	}
	if n.Kind != yaml.SequenceNode {
		r.problem(n, field, "got "+describe(n)+valueHint(n), expected)
		return
	}
	for i, item := range n.Content {
		fn(i, resolve(item), fmt.Sprintf("%s[%d]", field, i))
	}
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}
