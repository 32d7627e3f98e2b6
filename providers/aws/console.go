package aws

import (
	"context"
	"encoding/base64"
	"fmt"

	sdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/tinylabscom/mvm-verify/providers"
)

// Console returns the instance's serial console output. Latest asks for
// the newest 64 KB rather than the boot's first: what explains a host that
// stopped answering comes last.
func (p *Provider) Console(ctx context.Context, h *providers.Host) (string, error) {
	cl, err := p.clientsFor(ctx, h.Region)
	if err != nil {
		return "", err
	}
	out, err := cl.ec2.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: sdk.String(h.ID), Latest: sdk.Bool(true)})
	if err != nil {
		return "", classify("get console output of "+h.ID, err)
	}
	text, err := base64.StdEncoding.DecodeString(sdk.ToString(out.Output))
	if err != nil {
		return "", fmt.Errorf("decode console output of %s: %w", h.ID, err)
	}
	if len(text) == 0 {
		return "(the console has no output yet)", nil
	}
	return string(text), nil
}
