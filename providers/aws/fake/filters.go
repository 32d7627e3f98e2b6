package fake

import "net/http"

// EC2's filter names for the describes whose filters the fake models in
// part. A filter EC2 has and the fake applies is in the first list; one
// EC2 has and the fake does not model is in the second, and answered with
// an error of the fake's own (unmodelledFilter), so a test that starts
// using it learns the fake must grow rather than that EC2 would refuse
// it. A name in neither is refused as EC2 refuses it ("The filter 'x' is
// invalid"). "tag:" stands for tag:<key>, tag-key and tag-value.

var instanceFilters = []string{"availability-zone", "client-token", "image-id", "instance-id", "instance-lifecycle",
	"instance-state-code", "instance-state-name", "instance-type", "instance.group-id", "ip-address", "private-ip-address",
	"reservation-id", "spot-instance-request-id", "state-reason-code", "state-reason-message", "subnet-id", "vpc-id", "tag:"}

var instanceFiltersUnmodelled = []string{"affinity", "architecture", "availability-zone-id",
	"block-device-mapping.attach-time", "block-device-mapping.delete-on-termination", "block-device-mapping.device-name",
	"block-device-mapping.status", "block-device-mapping.volume-id", "boot-mode", "capacity-reservation-id",
	"capacity-reservation-specification.capacity-reservation-preference",
	"capacity-reservation-specification.capacity-reservation-target.capacity-reservation-id",
	"capacity-reservation-specification.capacity-reservation-target.capacity-reservation-resource-group-arn",
	"current-instance-boot-mode", "dns-name", "ebs-optimized", "ena-support", "enclave-options.enabled",
	"hibernation-options.configured", "host-id", "hypervisor", "iam-instance-profile.arn", "iam-instance-profile.id",
	"instance.group-name", "ipv6-address", "kernel-id", "key-name", "launch-index", "launch-time",
	"maintenance-options.auto-recovery", "metadata-options.http-endpoint", "metadata-options.http-protocol-ipv6",
	"metadata-options.http-put-response-hop-limit", "metadata-options.http-tokens", "metadata-options.instance-metadata-tags",
	"monitoring-state", "network-interface.addresses.association.public-ip", "network-interface.addresses.primary",
	"network-interface.addresses.private-ip-address", "network-interface.association.public-ip",
	"network-interface.attachment.attachment-id", "network-interface.attachment.delete-on-termination",
	"network-interface.attachment.device-index", "network-interface.attachment.instance-id",
	"network-interface.attachment.status", "network-interface.availability-zone", "network-interface.description",
	"network-interface.group-id", "network-interface.group-name", "network-interface.ipv6-address",
	"network-interface.mac-address", "network-interface.network-interface-id", "network-interface.owner-id",
	"network-interface.private-dns-name", "network-interface.private-ip-address", "network-interface.requester-managed",
	"network-interface.source-dest-check", "network-interface.status", "network-interface.subnet-id",
	"network-interface.vpc-id", "outpost-arn", "owner-id", "placement-group-name", "placement-partition-number",
	"platform", "platform-details", "private-dns-name", "product-code", "product-code.type", "ramdisk-id", "reason",
	"requester-id", "root-device-name", "root-device-type", "source-dest-check", "tenancy", "tpm-support",
	"usage-operation", "usage-operation-update-time", "virtualization-type"}

var volumeFilters = []string{"attachment.delete-on-termination", "attachment.device", "attachment.instance-id",
	"attachment.status", "availability-zone", "size", "status", "volume-id", "volume-type", "tag:"}

var volumeFiltersUnmodelled = []string{"attachment.attach-time", "create-time", "encrypted", "fast-restored",
	"multi-attach-enabled", "operator.managed", "operator.principal", "snapshot-id"}

var interfaceFilters = []string{"attachment.delete-on-termination", "attachment.device-index", "attachment.instance-id",
	"attachment.status", "availability-zone", "group-id", "interface-type", "network-interface-id", "owner-id", "status",
	"subnet-id", "vpc-id", "tag:"}

var interfaceFiltersUnmodelled = []string{"association.allocation-id", "association.association-id",
	"association.ip-owner-id", "association.public-ip", "association.public-dns-name", "attachment.attachment-id",
	"attachment.attach-time", "attachment.instance-owner-id", "description", "group-name", "ipv6-addresses.ipv6-address",
	"mac-address", "operator.managed", "operator.principal", "private-dns-name", "private-ip-address", "requester-id",
	"requester-managed", "source-dest-check"}

// unmodelledFilter answers a filter EC2 has that the fake does not apply.
func unmodelledFilter(f filter) *apiError {
	return errf(http.StatusBadRequest, "FakeUnmodelledFilter", "fake: filter '%s' is valid in EC2 but not modelled", f.name)
}
