package verify

import (
	"testing"
)

// A login shell's startup files may print before the command runs; the
// probe's report and uname's answer are still found.
func TestProbeOutputAmidShellNoise(t *testing.T) {
	report := "{\n  \"lane\": \"kvm\",\n  \"kvm\": {\"device_present\": true}\n}\n"
	for _, tc := range []struct {
		name, out string
		ok        bool
	}{
		{"clean", report, true},
		{"startup noise first", "pyenv: cannot rehash: couldn't acquire lock /root/.pyenv/shims/.pyenv-shim for 60 seconds. Last error message:\n/root/.pyenv/libexec/pyenv-rehash: line 30: {: Permission denied\n" + report, true},
		{"noise line starting with a brace", "{ not json\n" + report, true},
		{"no report", "bash: mvm-verify: command not found\n", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := probeReport([]byte(tc.out))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && (rep.Lane != "kvm" || !rep.KVM.DevicePresent) {
				t.Errorf("report %+v", rep)
			}
		})
	}
	if got := lastLine([]byte("motd: welcome\n\nLinux x86_64\n")); got != "Linux x86_64" {
		t.Errorf("lastLine = %q", got)
	}
}
