package providers

import "strings"

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
