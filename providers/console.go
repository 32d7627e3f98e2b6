package providers

import "context"

// ConsoleReader is implemented by providers that can read a created host's
// console output. The collect phase keeps it: for a host that never
// answered SSH it is the only log there is.
type ConsoleReader interface {
	Console(ctx context.Context, h *Host) (string, error)
}
