package providers

import (
	"context"
	"fmt"
	"strings"
)

// LeakCheck lists everything still tagged with the identity's run and key.
// An empty result means teardown was complete; the caller fails the step
// naming whatever is returned (see LeakError).
func LeakCheck(ctx context.Context, p Provider, id Identity) ([]Resource, error) {
	res, err := p.List(ctx, Filter{Run: id.Run(), Key: id.Key})
	if err != nil {
		return nil, fmt.Errorf("leak check on %s: %w", p.Name(), err)
	}
	return res, nil
}

// LeakError describes leaked resources by kind and id, or returns nil when
// there are none.
func LeakError(leaked []Resource) error {
	if len(leaked) == 0 {
		return nil
	}
	names := make([]string, 0, len(leaked))
	for _, r := range leaked {
		s := r.Kind + " " + r.ID
		if r.Region != "" {
			s += " in " + r.Region
		}
		names = append(names, s)
	}
	return fmt.Errorf("leak check: %d resource(s) still tagged with this run after teardown: %s",
		len(leaked), strings.Join(names, ", "))
}
