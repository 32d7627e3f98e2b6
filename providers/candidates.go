package providers

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Markets a candidate may ask for.
const (
	MarketOnDemand = "on-demand"
	MarketSpot     = "spot"
)

// String is the candidate for the summary, e.g. "us-east-1/us-east-1a c8i.large spot".
func (c Candidate) String() string {
	loc := c.Region
	if c.Zone != "" {
		loc += "/" + c.Zone
	}
	parts := []string{}
	for _, p := range []string{loc, c.Type, c.Market} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return "(default)"
	}
	return strings.Join(parts, " ")
}

// ParseCandidates reads the `candidates` input: a YAML or JSON list of
// {region, zone, type, market}. Unknown keys and bad markets are refused with
// the entry's position; an empty market becomes on-demand.
func ParseCandidates(s string) ([]Candidate, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader([]byte(s)))
	dec.KnownFields(true)
	var cands []Candidate
	if err := dec.Decode(&cands); err != nil {
		return nil, fmt.Errorf("input candidates: %v: expected a YAML or JSON list of {region, zone, type, market}", err)
	}
	for i := range cands {
		if err := cands[i].normalize(); err != nil {
			return nil, fmt.Errorf("input candidates: entry %d: %w", i+1, err)
		}
	}
	return cands, nil
}

func (c *Candidate) normalize() error {
	c.Market = strings.ToLower(strings.TrimSpace(c.Market))
	switch c.Market {
	case "", "ondemand", MarketOnDemand:
		c.Market = MarketOnDemand
	case MarketSpot:
	default:
		return fmt.Errorf("market %q: expected on-demand or spot", c.Market)
	}
	if c.Region == "" && c.Zone == "" && c.Type == "" {
		return errors.New("empty entry: expected at least one of region, zone, type")
	}
	return nil
}

// Defaults fills a candidate's empty fields from d (the single region /
// instance-type inputs and the provider's defaults).
func (c Candidate) Defaults(d Candidate) Candidate {
	if c.Region == "" {
		c.Region = d.Region
	}
	if c.Zone == "" && c.Region == d.Region {
		c.Zone = d.Zone
	}
	if c.Type == "" {
		c.Type = d.Type
	}
	if c.Market == "" {
		c.Market = d.Market
	}
	if c.Market == "" {
		c.Market = MarketOnDemand
	}
	return c
}

// ExpandSpotFailover returns cands with an on-demand copy after each spot
// candidate, so a spot request without capacity falls over to on-demand in
// the same place and both attempts show in the summary. Used when the input
// spot-failover is true.
func ExpandSpotFailover(cands []Candidate) []Candidate {
	out := make([]Candidate, 0, len(cands)*2)
	for _, c := range cands {
		out = append(out, c)
		if c.Market == MarketSpot {
			od := c
			od.Market = MarketOnDemand
			out = append(out, od)
		}
	}
	return out
}
