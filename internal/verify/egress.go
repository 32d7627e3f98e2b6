package verify

import "context"

// discoverSourceCIDR learns the source SSH will be allowed from, when the
// plan asks for it: last in the preflight, so the provider's own refusals
// (no credentials, an unknown region) come first, and before provision,
// whose firewall rule needs it.
func (c *cycle) discoverSourceCIDR(ctx context.Context) error {
	if c.plan.DiscoverSourceCIDR == nil {
		return nil
	}
	cidr, err := c.plan.DiscoverSourceCIDR(ctx)
	if err != nil {
		return err
	}
	c.plan.SSHSourceCIDR = cidr
	return nil
}
