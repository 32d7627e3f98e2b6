package aws

import (
	"context"
	"debug/elf"
	"fmt"
	"runtime"
	"slices"
	"strings"

	sdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/tinylabscom/mvm-verify/providers"
)

// UbuntuARMParameter is the arm64 twin of UbuntuParameter, for Graviton
// types.
const UbuntuARMParameter = "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id"

// The host runs the probe binary the cycle uploads (this mvm-verify, or the
// probe-binary input), so its architecture is that binary's, not merely
// one EC2 can boot: a Graviton *.metal type passes the KVM catalog but
// cannot run an amd64 probe, and EC2 refuses an x86_64 AMI on it only at
// RunInstances, after the security group exists.

// ec2Arch is EC2's name for a Go architecture, "" for one EC2 does not sell.
func ec2Arch(goarch string) string {
	return map[string]string{"amd64": "x86_64", "arm64": "arm64"}[goarch]
}

// ubuntuParameter is the default image's SSM parameter for arch (EC2's name).
func ubuntuParameter(arch string) string {
	if arch == "arm64" {
		return UbuntuARMParameter
	}
	return UbuntuParameter
}

// archExample names types of arch that expose KVM, for messages.
func archExample(arch string) string {
	if arch == "arm64" {
		return "c6g.metal or c7g.metal"
	}
	return "c8i.large or c5.metal"
}

// probeArch is the Go architecture of the binary the host will run: cfg's
// (tests), the probe-binary input's ELF machine, or this program's. A
// probe-binary that does not read as ELF is the config's to refuse; this
// program's architecture stands in until then.
func probeArch(cfg Config, probeBinary string) string {
	if cfg.Arch != "" {
		return cfg.Arch
	}
	if probeBinary != "" {
		if f, err := elf.Open(probeBinary); err == nil {
			defer f.Close()
			return providers.ELFGoArch(f.FileHeader)
		}
	}
	return runtime.GOARCH
}

// hostArch is EC2's name for the architecture the host must have, or an
// error naming the binary when EC2 has no such hosts.
func (p *Provider) hostArch() (string, error) {
	if a := ec2Arch(p.goarch); a != "" {
		return a, nil
	}
	if bin := p.opts.In("probe-binary"); bin != "" {
		return "", providers.Classified(providers.ClassInvalid, "", &providers.InputError{Input: "probe-binary", Value: bin,
			Expected: "a linux/amd64 or linux/arm64 build of mvm-verify", Err: fmt.Errorf("built for %s, and EC2 hosts are x86_64 or arm64", p.goarch)})
	}
	return "", providers.Classified(providers.ClassInvalid, "", fmt.Errorf(
		"this mvm-verify is built for %s, and EC2 hosts are x86_64 or arm64: expected a linux/amd64 or linux/arm64 build of mvm-verify as probe-binary", p.goarch))
}

// checkTypeArch refuses a type whose processors cannot run the probe
// binary (DescribeInstanceTypes' ProcessorInfo.SupportedArchitectures).
func (p *Provider) checkTypeArch(ctx context.Context, cl *clients, typ, arch string) error {
	out, err := cl.ec2.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []ec2types.InstanceType{ec2types.InstanceType(typ)}})
	if err != nil {
		return classify("look up the architecture of instance type "+typ, err)
	}
	var archs []string
	for _, it := range out.InstanceTypes {
		if it.ProcessorInfo == nil {
			continue
		}
		for _, a := range it.ProcessorInfo.SupportedArchitectures {
			archs = append(archs, string(a))
		}
	}
	if len(archs) == 0 || slices.Contains(archs, arch) {
		// EC2 said nothing: RunInstances will say more than a guess.
		return nil
	}
	return invalidInput("type", typ, fmt.Sprintf("an %s type such as %s; or a probe-binary built for %s", arch, archExample(arch), goarchOf(archs[0])),
		fmt.Errorf("an %s type, but the host runs the probe, %s", strings.Join(archs, "/"), p.binaryName()))
}

// checkImageArch refuses an image of another architecture than the host's.
func (p *Provider) checkImageArch(image string, img ec2types.Image, arch string) error {
	got := string(img.Architecture)
	if got == "" || got == arch {
		return nil
	}
	return providers.Classified(providers.ClassInvalid, "", &providers.InputError{Input: "image", Value: image,
		Expected: fmt.Sprintf("an %s AMI, or its SSM parameter", arch),
		Err:      fmt.Errorf("%s is an %s image, but the host runs the probe, %s", sdk.ToString(img.ImageId), got, p.binaryName())})
}

// binaryName says which binary the host runs and its platform, for messages.
func (p *Provider) binaryName() string {
	if pb := p.opts.In("probe-binary"); pb != "" {
		return fmt.Sprintf("probe-binary %s, built for %s", pb, p.goarch)
	}
	return fmt.Sprintf("this mvm-verify, built for %s", p.goarch)
}

// goarchOf is the Go name of an EC2 architecture.
func goarchOf(arch string) string {
	switch arch {
	case "x86_64":
		return "linux/amd64"
	case "arm64":
		return "linux/arm64"
	}
	return arch
}
