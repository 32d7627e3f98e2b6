package config

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tinylabscom/mvm-verify/providers"
)

// awsShape is the vCPUs and GiB of an EC2 type with KVM that the example
// workflow might name: the C8i/M8i/R8i sizes, 2 vCPUs per "large" step and
// 2, 4 or 8 GiB per vCPU by family.
func awsShape(instanceType string) (vcpu, gib int, ok bool) {
	family, size, found := strings.Cut(instanceType, ".")
	if !found {
		return 0, 0, false
	}
	perVCPU := map[string]int{"c8i": 2, "m8i": 4, "r8i": 8}[family]
	vcpu = map[string]int{"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32}[size]
	if perVCPU == 0 || vcpu == 0 {
		return 0, 0, false
	}
	return vcpu, vcpu * perVCPU, true
}

// The example matrix's AWS leg runs the built-in suite, which MVM-SUITE
// sizes at ≥ 4 vCPU / 16 GB: the adapter's default type (2 vCPU / 4 GiB)
// is too small for it, so the leg names a type that fits and has KVM.
func TestVerifyWorkflowAWSLegFitsTheDefaultSuite(t *testing.T) {
	var wf struct {
		Jobs map[string]struct {
			Strategy struct {
				Matrix struct {
					Include []map[string]string `yaml:"include"`
				} `yaml:"matrix"`
			} `yaml:"strategy"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, ".github/workflows/verify.yml"), &wf); err != nil {
		t.Fatalf("verify.yml: %v", err)
	}
	job, ok := wf.Jobs["verify"]
	if !ok {
		t.Fatal("verify.yml has no verify job")
	}
	legs := 0
	for _, leg := range job.Strategy.Matrix.Include {
		if leg["provider"] != "aws" {
			continue
		}
		legs++
		typ := leg["instance-type"]
		vcpu, gib, ok := awsShape(typ)
		if !ok {
			t.Errorf("AWS leg instance-type %q: not a C8i/M8i/R8i size this test knows", typ)
			continue
		}
		if vcpu < 4 || gib < 16 {
			t.Errorf("AWS leg instance-type %q has %d vCPU / %d GiB, want ≥ 4 / 16 for the built-in suite (m8i.xlarge)", typ, vcpu, gib)
		}
		if k, known := providers.KVMSupport("aws", typ); !known || (k.Kind != providers.KVMNested && k.Kind != providers.KVMYes) {
			t.Errorf("AWS leg instance-type %q: the catalog gives it no KVM (%+v, known %v)", typ, k, known)
		}
	}
	if legs == 0 {
		t.Error("verify.yml's matrix has no AWS leg")
	}
}
