package fake

import (
	"html"
	"slices"
	"strings"
	"testing"
)

// volumesOf is instance id's volumes, root first, as the fake holds them.
func volumesOf(t *testing.T, s *Server, id string) []Volume {
	t.Helper()
	in, ok := s.Instance(id)
	if !ok {
		t.Fatalf("no instance %s", id)
	}
	var out []Volume
	for _, vid := range append([]string{in.VolumeID}, in.ExtraVolumeIDs...) {
		i := slices.IndexFunc(s.Volumes(), func(v Volume) bool { return v.ID == vid })
		if i < 0 {
			t.Fatalf("instance %s names volume %s, which the fake does not hold", id, vid)
		}
		out = append(out, s.Volumes()[i])
	}
	if len(out) != len(s.Volumes()) {
		t.Fatalf("instance %s has volumes %+v, the fake holds %+v", id, out, s.Volumes())
	}
	return out
}

// TestRootVolumeFromTheImage: as on EC2, a launch's root volume is the
// image's root snapshot, at its size and type, resized only by a mapping
// that names the image's root device; a mapping under another name (the
// root device of another image) is an extra volume, and the root stays at
// the snapshot's 8 GiB. Instances, volumes and images name the device.
func TestRootVolumeFromTheImage(t *testing.T) {
	tests := []struct {
		name, image string
		mapping     []string
		want        []Volume // Device, SizeGB and Type, root first
	}{
		{"ubuntu, no mapping", UbuntuAMI, nil, []Volume{{Device: "/dev/sda1", SizeGB: 8, Type: "gp3"}}},
		{"amazon linux 2, no mapping", AmazonLinux2AMI, nil, []Volume{{Device: "/dev/xvda", SizeGB: 8, Type: "gp2"}}},
		{"ubuntu, its root device", UbuntuAMI, []string{"/dev/sda1", "50", "gp3"}, []Volume{{Device: "/dev/sda1", SizeGB: 50, Type: "gp3"}}},
		{"amazon linux 2, its root device", AmazonLinux2AMI, []string{"/dev/xvda", "50", "gp3"}, []Volume{{Device: "/dev/xvda", SizeGB: 50, Type: "gp3"}}},
		{"amazon linux 2, its root device, size only", AmazonLinux2AMI, []string{"/dev/xvda", "20", ""}, []Volume{{Device: "/dev/xvda", SizeGB: 20, Type: "gp2"}}},
		{"ubuntu, another image's root device", UbuntuAMI, []string{"/dev/xvda", "50", "gp3"},
			[]Volume{{Device: "/dev/sda1", SizeGB: 8, Type: "gp3"}, {Device: "/dev/xvda", SizeGB: 50, Type: "gp3"}}},
		{"amazon linux 2, another image's root device", AmazonLinux2AMI, []string{"/dev/sda1", "50", "gp3"},
			[]Volume{{Device: "/dev/xvda", SizeGB: 8, Type: "gp2"}, {Device: "/dev/sda1", SizeGB: 50, Type: "gp3"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{Booter: upBooter})
			defer s.Close()
			kv := []string{"ImageId", tt.image}
			if tt.mapping != nil {
				kv = append(kv, "BlockDeviceMapping.1.DeviceName", tt.mapping[0], "BlockDeviceMapping.1.Ebs.VolumeSize", tt.mapping[1])
				if tt.mapping[2] != "" {
					kv = append(kv, "BlockDeviceMapping.1.Ebs.VolumeType", tt.mapping[2])
				}
			}
			id := launch(t, s, group(t, s), "us-east-1a", kv...)
			vols := volumesOf(t, s, id)
			var got []Volume
			for _, v := range vols {
				got = append(got, Volume{Device: v.Device, SizeGB: v.SizeGB, Type: v.Type})
			}
			if !slices.EqualFunc(got, tt.want, func(a, b Volume) bool { return a.Device == b.Device && a.SizeGB == b.SizeGB && a.Type == b.Type }) {
				t.Fatalf("volumes = %+v, want %+v", got, tt.want)
			}
			waitState(t, s, id, "running")
			body := describe(t, s, id)
			if !strings.Contains(body, "<rootDeviceName>"+tt.want[0].Device+"</rootDeviceName>") {
				t.Errorf("DescribeInstances does not name root device %s:\n%s", tt.want[0].Device, body)
			}
			for _, v := range vols {
				if !strings.Contains(body, "<deviceName>"+v.Device+"</deviceName><ebs><volumeId>"+v.ID+"</volumeId>") {
					t.Errorf("DescribeInstances does not list volume %s under %s:\n%s", v.ID, v.Device, body)
				}
				_, vb := post(t, s, auth, ec2Form("DescribeVolumes", "Filter.1.Name", "attachment.device", "Filter.1.Value.1", v.Device))
				if !strings.Contains(vb, "<volumeId>"+v.ID+"</volumeId>") || !strings.Contains(vb, "<device>"+v.Device+"</device>") {
					t.Errorf("DescribeVolumes attachment.device=%s does not show %s attached there:\n%s", v.Device, v.ID, vb)
				}
			}
			// Every volume the launch made goes with the instance.
			if st, b := post(t, s, auth, ec2Form("TerminateInstances", "InstanceId.1", id)); st != 200 {
				t.Fatalf("terminate: %d\n%s", st, b)
			}
			waitState(t, s, id, "terminated")
			if left := s.Volumes(); len(left) != 0 {
				t.Errorf("volumes left after termination: %+v", left)
			}
		})
	}
}

// TestBlockDeviceMappingRefusals: EC2 refuses a root volume smaller than
// the image's snapshot, naming the snapshot and the least size, and an
// extra volume with neither a size nor a snapshot; a dry run is refused
// the same, and nothing is made.
func TestBlockDeviceMappingRefusals(t *testing.T) {
	s := New(Config{Booter: upBooter})
	defer s.Close()
	al2, _ := s.images.Get(AmazonLinux2AMI)
	tests := []struct {
		name string
		kv   []string
		want string
	}{
		{"root below the snapshot", []string{"ImageId", AmazonLinux2AMI, "BlockDeviceMapping.1.DeviceName", "/dev/xvda", "BlockDeviceMapping.1.Ebs.VolumeSize", "7"},
			"Volume of size 7GB is smaller than snapshot '" + al2.SnapshotID + "', expect size >= 8GB"},
		{"extra volume without a size", []string{"ImageId", AmazonLinux2AMI, "BlockDeviceMapping.1.DeviceName", "/dev/xvda", "BlockDeviceMapping.1.Ebs.VolumeSize", "50",
			"BlockDeviceMapping.2.DeviceName", "/dev/sdb", "BlockDeviceMapping.2.Ebs.VolumeType", "gp3", "BlockDeviceMapping.3.DeviceName", "/dev/sdc"},
			"Either snapshot ID or volume size must be provided for: /dev/sdb, /dev/sdc"},
	}
	for _, tt := range tests {
		for _, dry := range []bool{false, true} {
			kv := tt.kv
			if dry {
				kv = append(slices.Clone(kv), "DryRun", "true")
			}
			status, body := post(t, s, auth, launchWith(kv...))
			if status != 400 || errorCode(t, body) != "InvalidBlockDeviceMapping" || !strings.Contains(html.UnescapeString(body), tt.want) {
				t.Errorf("%s (dry run %v): %d, want 400 InvalidBlockDeviceMapping %q\n%s", tt.name, dry, status, tt.want, body)
			}
		}
	}
	if n := len(s.Instances()) + len(s.Volumes()); n != 0 {
		t.Errorf("refused launches made %d instances and volumes", n)
	}
}

// TestDescribeImagesNamesTheRoot: DescribeImages gives each image's root
// device name and its root snapshot's mapping, as EC2 does, so a client
// can size the root under the right name; an image added without a root
// device names none.
func TestDescribeImagesNamesTheRoot(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	s.PutImage("ami-0000000000000000e", Image{Name: "rootless", Arch: "x86_64"}, "")
	for ami, want := range map[string]string{
		UbuntuAMI:       "<rootDeviceName>/dev/sda1</rootDeviceName>",
		AmazonLinux2AMI: "<rootDeviceName>/dev/xvda</rootDeviceName>",
	} {
		_, body := post(t, s, auth, ec2Form("DescribeImages", "ImageId.1", ami))
		img, _ := s.images.Get(ami)
		mapping := "<deviceName>" + img.RootDevice + "</deviceName><ebs><snapshotId>" + img.SnapshotID + "</snapshotId><volumeSize>8</volumeSize>"
		if !strings.Contains(body, want) || !strings.Contains(body, mapping) {
			t.Errorf("DescribeImages %s: want %s and %s\n%s", ami, want, mapping, body)
		}
	}
	_, body := post(t, s, auth, ec2Form("DescribeImages", "Filter.1.Name", "root-device-name", "Filter.1.Value.1", "/dev/xvda"))
	if !strings.Contains(body, AmazonLinux2AMI) || strings.Contains(body, UbuntuAMI) {
		t.Errorf("images rooted at /dev/xvda: want %s only\n%s", AmazonLinux2AMI, body)
	}
	_, body = post(t, s, auth, ec2Form("DescribeImages", "ImageId.1", "ami-0000000000000000e"))
	if strings.Contains(body, "rootDeviceName") || strings.Contains(body, "<item><deviceName>") {
		t.Errorf("an image without a root device: want none named\n%s", body)
	}
}
