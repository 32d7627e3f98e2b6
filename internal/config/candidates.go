package config

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tinylabscom/mvm-verify/providers"
)

var candidateKeys = []string{"region", "zone", "type", "instance-type", "market"}

// candidates builds the ordered list of places to try.
func (l *loader) candidates(r *Run) {
	base := providers.Candidate{Region: r.Region, Zone: r.Zone, Type: r.InstanceType, Market: r.Market}
	v := l.get("candidates")
	if v == "" {
		r.Candidates = failover([]providers.Candidate{base}, r.SpotFailover)
		return
	}
	list, err := parseCandidates(v, base)
	if err != nil {
		l.errs = append(l.errs, &InputError{Input: "candidates", Err: err})
		return
	}
	r.Candidates = failover(list, r.SpotFailover)
}

func parseCandidates(text string, base providers.Candidate) ([]providers.Candidate, error) {
	root, err := parseYAML([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("not valid YAML or JSON: %w", err)
	}
	if isNull(root) {
		return nil, &FieldError{Problem: "empty", Expected: "a list of candidates"}
	}
	if root.Kind == yaml.MappingNode {
		// One candidate without the brackets.
		root = &yaml.Node{Kind: yaml.SequenceNode, Line: root.Line, Content: []*yaml.Node{root}}
	}
	r := &nodeReader{}
	var list []providers.Candidate
	r.list(root, "", "a list like [{region: us-east-1, type: c8i.2xlarge}]", false, func(i int, item *yaml.Node, path string) {
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
		c = c.Defaults(base)
		if j := slices.Index(list, c); j >= 0 {
			r.problem(item, path, fmt.Sprintf("same as [%d]", j), "each candidate once")
			return
		}
		list = append(list, c)
	})
	if err := r.err(); err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, &FieldError{Line: root.Line, Problem: "empty", Expected: "at least one candidate"}
	}
	return list, nil
}

// failover puts the on-demand twin after each spot candidate, unless the
// list already has it.
func failover(list []providers.Candidate, on bool) []providers.Candidate {
	if !on {
		return list
	}
	var out []providers.Candidate
	for _, c := range list {
		out = append(out, c)
		if c.Market != "spot" {
			continue
		}
		twin := c
		twin.Market = "on-demand"
		if !slices.Contains(list, twin) && !slices.Contains(out, twin) {
			out = append(out, twin)
		}
	}
	return out
}
