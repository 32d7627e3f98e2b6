package fake

import (
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// TestAppliedFaultActedBetween: an Applied fault's Acted runs once the
// launch is done — the instance is there, with the token it was asked
// for — and before the client gets any answer, which is then the fault's
// error; a launch the fake refuses does not call it.
func TestAppliedFaultActedBetween(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	sg := group(t, s)
	var (
		acted []fakecloud.Call
		held  []Instance
		// answered is set once post has the answer to the launch.
		answered bool
	)
	s.Inject(fakecloud.Fault{Op: "RunInstances", Applied: true, Times: 2, Status: 500, Code: "InternalError",
		Acted: func(c fakecloud.Call) {
			acted = append(acted, c)
			held = s.Instances()
			if answered {
				t.Errorf("Acted ran after the client had its answer")
			}
		}})
	// Refused before acting (no such image): Acted is not called, and the
	// refusal is answered, not the fault.
	st, b := post(t, s, auth, ec2Form("RunInstances", "MinCount", "1", "MaxCount", "1", "ImageId", "ami-00000000000000bad",
		"InstanceType", "c8i.large", "SecurityGroupId.1", sg))
	if st == 500 || len(acted) != 0 {
		t.Fatalf("a refused launch: %d %s; Acted called %d times, want 0", st, b, len(acted))
	}
	st, b = post(t, s, auth, launchWith("ClientToken", "tok-acted", "SecurityGroupId.1", sg))
	answered = true
	if st != 500 || errorCode(t, b) != "InternalError" {
		t.Fatalf("the launch under the fault: %d %s, want the fault's error", st, b)
	}
	if len(acted) != 1 || acted[0].Op != "RunInstances" || acted[0].Params["ClientToken"] != "tok-acted" {
		t.Fatalf("Acted saw %+v, want the one RunInstances with its parameters", acted)
	}
	if len(held) != 1 || held[0].ClientToken != "tok-acted" || held[0].State == "terminated" {
		t.Fatalf("when Acted ran the fake held %+v, want the instance the launch made", held)
	}
	if strings.Contains(b, held[0].ID) {
		t.Errorf("the answer names instance %s: the client learnt its id", held[0].ID)
	}
}
