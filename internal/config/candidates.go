package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tinylabscom/mvm-verify/providers"
)

var candidateKeys = []string{"region", "zone", "type", "instance-type", "market"}

// candidatesForm is the form the candidates input takes, for its errors.
const candidatesForm = "a list like [{region: us-east-1, zone: us-east-1a, type: c8i.large, market: spot}]"

// errCandidatesMapping marks a candidates value that is one mapping, not
// a list of them.
var errCandidatesMapping = errors.New("a single mapping, not a list")

// errCandidatesSyntax marks a candidates value that does not parse at all,
// so its error names the value and the form rather than a line in it.
var errCandidatesSyntax = errors.New("not valid YAML or JSON")

// candidates builds the ordered list of places to try, and remembers which
// input each field of each place came from.
func (l *loader) candidates(r *Run) {
	base := providers.Candidate{Region: r.Region, Zone: r.Zone, Type: r.InstanceType, Market: r.Market}
	v := l.get("candidates")
	if v == "" {
		r.Candidates, _ = failover([]providers.Candidate{base}, r.SpotFailover)
		return
	}
	list, given, err := parseCandidates(v, base)
	if err != nil && l.holdsSecret(v) {
		// A secret input's value pasted here: the field errors would
		// quote parts of it, so the error quotes none.
		l.fail("candidates", v, candidatesForm+" in YAML or JSON", nil)
		return
	}
	if errors.Is(err, errCandidatesSyntax) {
		// Candidates hold no secrets; fail still redacts a pasted key.
		l.fail("candidates", v, candidatesForm+" in YAML or JSON", err)
		return
	}
	if errors.Is(err, errCandidatesMapping) {
		l.fail("candidates", v, "a YAML or JSON list such as [{region: us-east-1, type: c8i.large}]; "+
			"for one candidate put its mapping in [ ]", nil)
		return
	}
	if err != nil {
		l.errs = append(l.errs, &InputError{Input: "candidates", Err: err})
		return
	}
	var from []int
	r.Candidates, from = failover(list, r.SpotFailover)
	r.candidateFrom = make([]candidateSource, len(from))
	for i, j := range from {
		r.candidateFrom[i] = given[j]
	}
}

// candidateSource is where one of Run.Candidates came from: the entry of
// the candidates input at index, as given (its empty fields came from the
// single inputs).
type candidateSource struct {
	index int
	given providers.Candidate
	// typeKey is the key the entry gave its type under: "type" or
	// "instance-type".
	typeKey string
}

// CandidateInput names the input a field ("region", "zone", "type" or
// "market") of Candidates[i] came from, for errors about its value:
// "candidates[1].type" when that entry of the candidates input set it,
// else the single input ("instance-type"). An empty field names the entry
// ("candidates[1]"), or "" when there is no candidates input.
func (r *Run) CandidateInput(i int, field string) string {
	if i < 0 || i >= len(r.candidateFrom) {
		return singleInput(field)
	}
	src := r.candidateFrom[i]
	entry := fmt.Sprintf("candidates[%d]", src.index)
	var set bool
	key := field
	switch field {
	case "":
		return entry
	case "region":
		set = src.given.Region != ""
	case "zone":
		set = src.given.Zone != ""
	case "type":
		set, key = src.given.Type != "", cmp.Or(src.typeKey, "type")
	case "market":
		set = src.given.Market != ""
	}
	if !set {
		return singleInput(field)
	}
	return entry + "." + key
}

// singleInput is the input a candidate field has when no candidates input
// sets it.
func singleInput(field string) string {
	if field == "type" {
		return "instance-type"
	}
	return field
}

// parseCandidates returns the candidates, empty fields filled from base,
// and, at the same index, each as the input gave it.
func parseCandidates(text string, base providers.Candidate) ([]providers.Candidate, []candidateSource, error) {
	root, err := parseYAML("", []byte(text))
	var fe *FieldError
	if errors.As(err, &fe) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errCandidatesSyntax, err)
	}
	if isNull(root) {
		return nil, nil, &FieldError{Problem: "empty", Expected: "a list of candidates"}
	}
	if root.Kind == yaml.MappingNode {
		// One candidate without the brackets: the input is documented as
		// a list, and a mapping read as a list of one would make the form
		// depend on the count.
		return nil, nil, errCandidatesMapping
	}
	r := &nodeReader{}
	var list []providers.Candidate
	var given []candidateSource
	r.list(root, "", candidatesForm, false, func(i int, item *yaml.Node, path string) {
		var c providers.Candidate
		var typeKey string
		before := len(r.errs)
		r.mapping(item, path, candidateKeys, func(key string, v *yaml.Node) {
			field := join(path, key)
			s, ok := r.scalar(v, field, "a name without spaces")
			if !ok {
				return
			}
			if strings.ContainsFunc(s, isSpaceOrQuote) || s == "" {
				r.fail(v, field, s, "a name without spaces")
				return
			}
			switch key {
			case "region":
				c.Region = s
			case "zone":
				c.Zone = s
			case "type", "instance-type":
				if typeKey != "" {
					r.problem(v, field, "given with "+typeKey, "one of type or instance-type")
					return
				}
				typeKey = key
				c.Type = s
			case "market":
				if !slices.Contains(markets, s) {
					r.fail(v, field, s, orList(markets))
					return
				}
				c.Market = s
			}
		})
		if len(r.errs) > before {
			return
		}
		// Empty fields come from the single inputs, the zone only when the
		// candidate is in their region: a zone names one region's place.
		src := candidateSource{index: i, given: c, typeKey: typeKey}
		c = c.Defaults(base)
		if j := slices.Index(list, c); j >= 0 {
			r.problem(item, path, fmt.Sprintf("same as [%d]", j), "each candidate once")
			return
		}
		list = append(list, c)
		given = append(given, src)
	})
	if err := r.err(); err != nil {
		return nil, nil, err
	}
	if len(list) == 0 {
		return nil, nil, &FieldError{Line: root.Line, Problem: "empty", Expected: "at least one candidate"}
	}
	return list, given, nil
}

// failover puts the on-demand twin after each spot candidate, unless the
// list already has it. from says, for each candidate returned, the index
// in list it comes from (a twin, its spot candidate's).
func failover(list []providers.Candidate, on bool) (out []providers.Candidate, from []int) {
	for i, c := range list {
		out, from = append(out, c), append(from, i)
		if !on || c.Market != "spot" {
			continue
		}
		twin := c
		twin.Market = "on-demand"
		if !slices.Contains(list, twin) && !slices.Contains(out, twin) {
			out, from = append(out, twin), append(from, i)
		}
	}
	return out, from
}
