package verify

import (
	"context"
	"fmt"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/remote"
	"github.com/tinylabscom/mvm-verify/providers"
)

// The collect phase: log excerpts that explain the host.

// collect fetches log excerpts that explain the host: its boot (cloud-init,
// where we booted it), its kernel and system logs, which say why KVM or a
// sandbox failed, and its console where the provider has one. It never
// fails the leg: a missing log is noted instead.
func (c *cycle) collect(ctx context.Context) error {
	var collected []Log
	if c.connected() {
		// A connection lost under the suite is redialed: its logs are
		// what explain that.
		if err := c.reconnect(ctx); err != nil {
			collected = append(collected, Log{Name: "host logs", Text: "(not collected: " + describe(ctx, err) + ")"})
		}
	}
	if c.connected() && c.client.Lost() == nil {
		for _, l := range collectCommands(c.host.CloudInit) {
			res, err := c.client.Run(ctx, remote.RunSpec{Command: l.Text, AsUser: "root", NoProfile: true, Timeout: collectTimeout})
			c.addRemote(res.Duration)
			text := remote.MaskString(string(res.Output), c.secrets())
			switch {
			case err != nil:
				text = "(not collected: " + describe(ctx, err) + ")"
			case res.TimedOut:
				text += fmt.Sprintf("\n(cut off: not finished within %s)", collectTimeout)
			}
			collected = append(collected, Log{Name: l.Name, Text: text})
		}
	}
	if cr, ok := c.plan.Provider.(providers.ConsoleReader); ok && c.host.ID != "" {
		text, err := cr.Console(ctx, c.host)
		if err != nil {
			text = "(not collected: " + describe(ctx, err) + ")"
		}
		collected = append(collected, Log{Name: "console", Text: remote.MaskString(text, c.secrets())})
	}
	c.mu.Lock()
	c.res.Collected = collected
	c.mu.Unlock()
	return nil
}

// collectTimeout bounds each log command: a log is a help, not worth
// holding the teardown for.
const collectTimeout = 30 * time.Second

// collectCommands are the logs collect fetches, each a command whose output
// is the log. A host we did not boot may lack systemd or deny the kernel
// log; the commands say so in the log rather than fail.
func collectCommands(cloudInit bool) []Log {
	var logs []Log
	if cloudInit {
		logs = append(logs,
			Log{Name: "cloud-init status", Text: "cloud-init status --long 2>&1"},
			Log{Name: "cloud-init-output.log", Text: "tail -n 200 /var/log/cloud-init-output.log 2>&1"},
		)
	}
	return append(logs,
		Log{Name: "kernel log", Text: "dmesg 2>&1 | tail -n 100"},
		Log{Name: "journal", Text: "if command -v journalctl >/dev/null; then journalctl -b --no-pager -n 200 -p warning 2>&1; else echo 'no systemd journal on this host'; fi"},
	)
}
