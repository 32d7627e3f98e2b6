package providers

import (
	"cmp"
	"fmt"
	"strings"
)

// KVMKind says how an instance type exposes KVM.
type KVMKind int

const (
	// KVMUnknown: not in the catalog; the probe on the host decides.
	KVMUnknown KVMKind = iota
	// KVMNo: the type is known not to expose /dev/kvm.
	KVMNo
	// KVMNested: nested virtualization on a virtual machine.
	KVMNested
	// KVMYes: bare metal.
	KVMYes
)

func (k KVMKind) String() string {
	switch k {
	case KVMNo:
		return "no"
	case KVMNested:
		return "nested"
	case KVMYes:
		return "yes"
	}
	return "unknown"
}

// KVM is the catalog's word on one instance type.
type KVM struct {
	Kind KVMKind
	// Note says why, or what has to be switched on (e.g. the API flag).
	Note string
	// PricePerHour is the on-demand list price in USD in the provider's
	// cheapest common region, 0 when not known. For estimates only.
	PricePerHour float64
}

// kvmRule matches instance types by family prefix (everything before the
// first "." or "-", as AWS and GCP name them) or by a ".metal" suffix.
type kvmRule struct {
	families []string
	metal    bool
	kvm      KVM
}

// catalog returns, per provider, rules tried in order; the first match
// wins. (A function rather than a variable: the table is not to be changed.)
func catalog() map[string][]kvmRule {
	return map[string][]kvmRule{
		"aws": {
			// EC2 Mac instances are bare metal but boot only macOS.
			{families: []string{"mac1", "mac2", "mac"}, kvm: KVM{Kind: KVMNo, Note: "an EC2 Mac instance runs macOS, not Linux; " + awsKVMTypes}},
			{metal: true, kvm: KVM{Kind: KVMYes, Note: "bare metal"}},
			// The family is what precedes the first "." or "-", so the
			// flex variants (c8i-flex.large) are these families too.
			{families: []string{"c8i", "m8i", "r8i"}, kvm: KVM{Kind: KVMNested, Note: "nested virtualization with CpuOptions.NestedVirtualization=enabled"}},
			// Every other family EC2 sells, current and previous
			// generation: virtual machines without nested virtualization.
			// A family missing here (a new one) stays unknown, not refused:
			// the host probe decides.
			{families: awsNoKVMFamilies(), kvm: KVM{Kind: KVMNo, Note: "virtualized without nested virtualization; " + awsKVMTypes}},
		},
		"gcp": {
			{families: []string{"n2", "n2d", "n1", "c3", "c2", "c2d"}, kvm: KVM{Kind: KVMNested, Note: "nested virtualization with enableNestedVirtualization"}},
			{families: []string{"e2", "t2a", "t2d", "c4a"}, kvm: KVM{Kind: KVMNo, Note: "no nested virtualization on this series"}},
		},
		"azure": {
			{families: []string{"standard_d2s_v5", "standard_d4s_v5", "standard_d8s_v5", "standard_d2s_v3", "standard_d4s_v3"}, kvm: KVM{Kind: KVMNested, Note: "nested virtualization (Dsv3/Dsv5)"}},
			{families: []string{"standard_b1s", "standard_b2s", "standard_b1ms", "standard_b2ms"}, kvm: KVM{Kind: KVMNo, Note: "burstable B-series has no nested virtualization"}},
		},
		"hetzner": {
			{families: []string{"cx22", "cx32", "cx42", "cx52", "cpx11", "cpx21", "cpx31", "cpx41", "cpx51", "cax11", "cax21", "cax31", "cax41", "ccx13", "ccx23", "ccx33"}, kvm: KVM{Kind: KVMNo, Note: "Hetzner Cloud exposes no KVM (no-kvm lane)"}},
		},
	}
}

// awsKVMTypes says which EC2 types expose KVM, for the notes of the ones
// that do not.
const awsKVMTypes = "on AWS only *.metal types and C8i/M8i/R8i (and their -flex variants) with CpuOptions.NestedVirtualization expose KVM"

// awsNoKVMFamilies are the EC2 instance families (as KVMSupport cuts them
// from a type name) that expose no KVM to Linux: every family but C8i, M8i
// and R8i, whose bare-metal sizes the .metal rule catches first.
func awsNoKVMFamilies() []string {
	return []string{
		// General purpose.
		"a1", "t1", "t2", "t3", "t3a", "t4g",
		"m1", "m2", "m3", "m4",
		"m5", "m5a", "m5ad", "m5d", "m5dn", "m5n", "m5zn",
		"m6a", "m6g", "m6gd", "m6i", "m6id", "m6idn", "m6in",
		"m7a", "m7g", "m7gd", "m7i", // m7i-flex too
		"m8a", "m8g", "m8gd",
		// Compute optimized.
		"c1", "c3", "c4", "cc2",
		"c5", "c5a", "c5ad", "c5d", "c5n",
		"c6a", "c6g", "c6gd", "c6gn", "c6i", "c6id", "c6in",
		"c7a", "c7g", "c7gd", "c7gn", "c7i", // c7i-flex too
		"c8a", "c8g", "c8gd", "c8gn",
		// Memory optimized.
		"cr1", "r3", "r4",
		"r5", "r5a", "r5ad", "r5b", "r5d", "r5dn", "r5n",
		"r6a", "r6g", "r6gd", "r6i", "r6id", "r6idn", "r6in",
		"r7a", "r7g", "r7gd", "r7i", "r7iz",
		"r8a", "r8g", "r8gd",
		"x1", "x1e", "x2gd", "x2idn", "x2iedn", "x2iezn", "x8g",
		"z1d",
		"u", "u7i", "u7in", "u7inh", // high memory: u-6tb1.112xlarge, u7i-12tb.224xlarge
		// Storage optimized.
		"d2", "d3", "d3en", "h1", "hs1",
		"i2", "i3", "i3en", "i4g", "i4i", "i7i", "i7ie", "i8g", "i8ge", "im4gn", "is4gen",
		// Accelerated computing.
		"dl1", "dl2q", "f1", "f2",
		"g2", "g3", "g3s", "g4ad", "g4dn", "g5", "g5g", "g6", "g6e", "g6f", "gr6", "gr6f",
		"inf1", "inf2",
		"p2", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "p6", "p6e", // p6-b200, p6e-gb200
		"trn1", "trn1n", "trn2", "trn2u", "vt1",
		// High performance computing.
		"hpc6a", "hpc6id", "hpc7a", "hpc7g",
	}
}

// prices returns the on-demand USD/hour list price of the types the
// project uses, for estimates in the summary and the budget check.
func prices() map[string]map[string]float64 {
	return map[string]map[string]float64{
		"aws": {
			"c8i.large": 0.0894, "c8i.xlarge": 0.1788, "c8i.2xlarge": 0.3576,
			"m8i.large": 0.1058, "m8i.xlarge": 0.2117, "r8i.large": 0.1386,
			"c5.metal": 4.08, "m5.metal": 4.608, "c6i.metal": 5.44, "m7i.metal-24xl": 4.8384,
			"t3.large": 0.0832,
		},
		"gcp": {"n2-standard-4": 0.1942, "n2-standard-2": 0.0971},
	}
}

// KVMSupport looks up an instance type. ok is false when the catalog does
// not know the type (Kind is then KVMUnknown).
func KVMSupport(provider, instanceType string) (KVM, bool) {
	t := strings.ToLower(strings.TrimSpace(instanceType))
	price := prices()[provider][t]
	family := t
	if i := strings.IndexAny(t, ".-"); i >= 0 && provider != "azure" {
		family = t[:i]
	}
	for _, r := range catalog()[provider] {
		if r.metal && (strings.HasSuffix(t, ".metal") || strings.Contains(t, ".metal-")) {
			k := r.kvm
			k.PricePerHour = price
			return k, true
		}
		for _, f := range r.families {
			if f == family {
				k := r.kvm
				k.PricePerHour = price
				return k, true
			}
		}
	}
	return KVM{Kind: KVMUnknown, PricePerHour: price}, false
}

// Lanes.
const (
	LaneKVM   = "kvm"
	LaneNoKVM = "no-kvm"
)

// kvmExamples names, per provider, types the catalog says do expose KVM,
// as the expected form of a refusal.
func kvmExamples() map[string]string {
	return map[string]string{
		"aws":   "a type with nested virtualization such as c8i.large, or a *.metal type",
		"gcp":   "a type with nested virtualization such as n2-standard-2",
		"azure": "a size with nested virtualization such as Standard_D2s_v5",
	}
}

// CheckKVM is the preflight rule: a type the catalog knows lacks KVM is
// refused unless the lane is no-kvm. The cycle applies it to every
// candidate before the provider's own Preflight, so no adapter can forget
// it. example names types that do have KVM, for the message; "" takes the
// catalog's for the provider.
func CheckKVM(provider, instanceType, lane, example string) error {
	if lane == LaneNoKVM {
		return nil
	}
	k, ok := KVMSupport(provider, instanceType)
	if !ok || k.Kind != KVMNo {
		return nil
	}
	example = cmp.Or(example, kvmExamples()[provider], "a type with nested virtualization or bare metal")
	return Classified(ClassInvalid, "", &InputError{Field: "type", Value: instanceType,
		Expected: example + "; or set lane: no-kvm", Err: fmt.Errorf("no KVM on this type: %s", k.Note)})
}
