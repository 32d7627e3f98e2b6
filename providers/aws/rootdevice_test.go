package aws_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/aws"
	"github.com/tinylabscom/mvm-verify/providers/aws/fake"
)

// amd64Provider is newProvider for a host of x86_64 images whatever this
// machine runs: the tests below name x86_64 AMIs.
func amd64Provider(t *testing.T, srv *fake.Server) *aws.Provider {
	t.Helper()
	p, err := aws.New(options(srv, nil, env), aws.Config{RetryBackoff: func(int) time.Duration { return 0 }, Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRootVolumeOnEitherRootDevice: the host's root volume is 50 GB gp3
// (disk-gb's default) on an image rooted at /dev/sda1 (Ubuntu) and on one
// rooted at /dev/xvda (Amazon Linux 2, whose snapshot is gp2), and it is
// the only volume. The fake sizes the root only by a mapping under the
// image's own root device name, as EC2 does, so an adapter that named one
// device for every image would leave the other image's root at its 8 GiB
// snapshot and add a volume beside it.
func TestRootVolumeOnEitherRootDevice(t *testing.T) {
	for _, tc := range []struct{ image, device string }{
		{fake.UbuntuParameter, "/dev/sda1"},
		{fake.AmazonLinux2Parameter, "/dev/xvda"},
	} {
		t.Run(tc.device, func(t *testing.T) {
			srv := newFake(t, idleBooter)
			p := amd64Provider(t, srv)
			req := request(identity("aws"))
			req.Image = tc.image
			if err := p.Preflight(context.Background(), req); err != nil {
				t.Fatalf("preflight: %v", err)
			}
			if _, err := p.Create(context.Background(), req, nil); err != nil {
				t.Fatalf("create: %v", err)
			}
			insts := srv.Instances()
			if len(insts) != 1 {
				t.Fatalf("instances = %+v, want one", insts)
			}
			in := insts[0]
			if in.RootDevice != tc.device {
				t.Errorf("instance's root device = %q, want the image's, %s", in.RootDevice, tc.device)
			}
			vols := srv.Volumes()
			if len(vols) != 1 || vols[0].ID != in.VolumeID || vols[0].Device != tc.device || vols[0].SizeGB != aws.DefaultDiskGB || vols[0].Type != "gp3" {
				t.Fatalf("volumes = %+v, want only the root volume %s: %s, %d GB gp3", vols, in.VolumeID, tc.device, aws.DefaultDiskGB)
			}
		})
	}
}

// TestImageWithoutRootDevice: an image EC2 describes with no root device
// name (no EBS-backed AMI is one) is refused as the image input's, naming
// it, by the preflight and by Create, before anything is made: the adapter
// does not guess a device name, under which EC2 could add a volume and
// leave the root at its snapshot's size.
func TestImageWithoutRootDevice(t *testing.T) {
	srv := newFake(t, idleBooter)
	const ami = "ami-0000000000000000e"
	srv.PutImage(ami, fake.Image{Name: "rootless", Arch: "x86_64"}, "")
	p := amd64Provider(t, srv)
	req := request(identity("aws"))
	req.Image = ami
	want := `input "image": got "` + ami + `", expected an EBS-backed AMI, which names its root device (/dev/sda1, /dev/xvda), or its SSM parameter ` +
		`(EC2 describes ` + ami + ` with no root device name, so its root volume cannot be sized to disk-gb)`
	err := p.Preflight(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), want) || providers.ClassOf(err) != providers.ClassInvalid {
		t.Errorf("preflight = %v (class %v), want invalid: %s", err, providers.ClassOf(err), want)
	}
	_, err = p.Create(context.Background(), req, nil)
	if err == nil || !strings.Contains(err.Error(), want) || providers.ClassOf(err) != providers.ClassInvalid {
		t.Errorf("create = %v (class %v), want invalid: %s", err, providers.ClassOf(err), want)
	}
	if insts, groups, vols := srv.Live(); insts+groups+vols != 0 {
		t.Errorf("the refusals left %d instances, %d groups, %d volumes", insts, groups, vols)
	}
}

// TestDiskBelowTheImageSnapshot: a disk-gb below the image's root
// snapshot, which EC2 refuses at launch, is refused as the disk-gb input's
// by the preflight and by Create, naming the least size, before anything
// is made; the default 50 GB on a larger snapshot says it is the default.
// The snapshot's size is what it may equal.
func TestDiskBelowTheImageSnapshot(t *testing.T) {
	srv := newFake(t, idleBooter)
	const ami = "ami-0000000000000000f"
	srv.PutImage(ami, fake.Image{Name: "big", Arch: "x86_64", RootDevice: "/dev/sda1", SnapshotGB: 80}, "")
	p := amd64Provider(t, srv)
	for disk, want := range map[int]string{
		20: `input "disk-gb": got "20", expected a whole number of GB of at least 80, the size of image ` + ami + `'s root snapshot`,
		0:  `input "disk-gb": got "50 (the default)", expected a whole number of GB of at least 80`,
	} {
		req := request(identity("aws"))
		req.Image, req.DiskGB = ami, disk
		err := p.Preflight(context.Background(), req)
		if err == nil || !strings.Contains(err.Error(), want) || providers.ClassOf(err) != providers.ClassInvalid {
			t.Errorf("disk-gb %d: preflight = %v, want invalid: %s", disk, err, want)
		}
		_, err = p.Create(context.Background(), req, nil)
		if err == nil || !strings.Contains(err.Error(), want) || providers.ClassOf(err) != providers.ClassInvalid {
			t.Errorf("disk-gb %d: create = %v, want invalid: %s", disk, err, want)
		}
	}
	if insts, groups, vols := srv.Live(); insts+groups+vols != 0 {
		t.Fatalf("the refusals left %d instances, %d groups, %d volumes", insts, groups, vols)
	}
	req := request(identity("aws"))
	req.Image, req.DiskGB = ami, 80
	if err := p.Preflight(context.Background(), req); err != nil {
		t.Fatalf("disk-gb 80 on an 80 GB snapshot: preflight: %v", err)
	}
	if _, err := p.Create(context.Background(), req, nil); err != nil {
		t.Fatalf("disk-gb 80 on an 80 GB snapshot: create: %v", err)
	}
	if vols := srv.Volumes(); len(vols) != 1 || vols[0].SizeGB != 80 {
		t.Errorf("volumes = %+v, want the 80 GB root", vols)
	}
}
