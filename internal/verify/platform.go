package verify

import (
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"

	"github.com/tinylabscom/mvm-verify/providers"
)

// unameArch maps `uname -m` to GOARCH.
var unameArch = map[string]string{
	"x86_64":      "amd64",
	"amd64":       "amd64",
	"aarch64":     "arm64",
	"arm64":       "arm64",
	"i386":        "386",
	"i686":        "386",
	"armv6l":      "arm",
	"armv7l":      "arm",
	"riscv64":     "riscv64",
	"s390x":       "s390x",
	"ppc64le":     "ppc64le",
	"loongarch64": "loong64",
}

// hostPlatform turns the output of `uname -sm` ("Linux x86_64") into
// GOOS/GOARCH ("linux", "amd64").
func hostPlatform(uname string) (goos, goarch string, err error) {
	f := strings.Fields(uname)
	if len(f) != 2 {
		return "", "", fmt.Errorf("uname -sm printed %q, expected a kernel and a machine such as \"Linux x86_64\"", strings.TrimSpace(uname))
	}
	goos = strings.ToLower(f[0])
	goarch, ok := unameArch[f[1]]
	if !ok {
		goarch = f[1] // named as the host names it; it matches no build
	}
	return goos, goarch, nil
}

// binaryPlatform reads GOOS/GOARCH from an executable's headers. Go writes
// no OS into a Linux ELF file, so an ELF without another OS's ABI is taken
// for Linux.
func binaryPlatform(path string) (goos, goarch string, err error) {
	if f, err := elf.Open(path); err == nil {
		defer f.Close()
		goos = "linux"
		switch f.OSABI {
		case elf.ELFOSABI_FREEBSD:
			goos = "freebsd"
		case elf.ELFOSABI_NETBSD:
			goos = "netbsd"
		case elf.ELFOSABI_OPENBSD:
			goos = "openbsd"
		}
		return goos, providers.ELFGoArch(f.FileHeader), nil
	}
	if f, err := macho.Open(path); err == nil {
		defer f.Close()
		goarch := map[macho.Cpu]string{macho.CpuAmd64: "amd64", macho.CpuArm64: "arm64"}[f.Cpu]
		return "darwin", goarch, nil
	}
	if f, err := pe.Open(path); err == nil {
		defer f.Close()
		goarch := map[uint16]string{pe.IMAGE_FILE_MACHINE_AMD64: "amd64", pe.IMAGE_FILE_MACHINE_ARM64: "arm64"}[f.Machine]
		return "windows", goarch, nil
	}
	return "", "", fmt.Errorf("%s is not an executable this program can read (ELF, Mach-O or PE)", path)
}

// elfInterpreter is the program interpreter a dynamically linked ELF
// executable asks for (its PT_INTERP header, as
// /lib64/ld-linux-x86-64.so.2); "" for a static executable or a file that
// is not ELF.
func elfInterpreter(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(p.Open(), 4096))
		if err != nil || len(b) == 0 {
			return "a program interpreter"
		}
		return strings.TrimRight(string(b), "\x00")
	}
	return ""
}

// isThisMachine reports whether addr reaches this machine (a loopback
// address): there the libraries a dynamically linked binary was linked
// against are the ones it finds.
func isThisMachine(addr string) bool {
	if strings.EqualFold(addr, "localhost") {
		return true
	}
	ip := net.ParseIP(addr)
	return ip != nil && ip.IsLoopback()
}

// checkProbeLinking refuses a dynamically linked probe binary for a host
// other than this machine: what `go build` makes with cgo on needs the
// build machine's dynamic loader and C library (GLIBC_2.34 and the like),
// which an older or musl host lacks, and the probe would fail there with
// nothing but the loader's complaint.
// An empty addr is a host the provider has yet to create (a cloud's),
// which is never this machine.
func checkProbeLinking(bin, input, addr string) error {
	host := "a host the provider creates"
	if addr != "" {
		if isThisMachine(addr) {
			return nil
		}
		host = "the host " + addr
	}
	interp := elfInterpreter(bin)
	if interp == "" {
		return nil
	}
	why := fmt.Sprintf("dynamically linked (it needs %s and the C library of the machine that built it, which %s may not have)", interp, host)
	if input != "" {
		return fmt.Errorf("input %q: %s is %s: expected a static build of mvm-verify (CGO_ENABLED=0 go build)", input, bin, why)
	}
	return fmt.Errorf("the probe binary is this mvm-verify, which is %s: build it with CGO_ENABLED=0 go build, "+
		"or set the input \"probe-binary\" to a static build", why)
}

// checkProbeOS refuses a probe binary that is not a Linux executable,
// before the host is known: every host the cycle drives runs Linux, so
// its architecture is all the probe phase has left to check. input is as
// for checkProbePlatform.
func checkProbeOS(bin, input string) error {
	if input == "" {
		if runtime.GOOS == "linux" {
			return nil
		}
		return fmt.Errorf("the probe binary is this mvm-verify, a %s/%s build, but hosts run Linux: "+
			"set the input \"probe-binary\" to a linux build of mvm-verify (GOOS=linux CGO_ENABLED=0 go build)", runtime.GOOS, runtime.GOARCH)
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("input %q: open probe binary: %w", input, err)
	}
	goos, goarch, err := binaryPlatform(bin)
	if err != nil {
		return fmt.Errorf("input %q: %w; expected a linux build of mvm-verify", input, err)
	}
	if goos != "linux" {
		return fmt.Errorf("input %q: %s is a %s/%s build, but hosts run Linux: expected a linux build of mvm-verify (GOOS=linux CGO_ENABLED=0 go build)",
			input, bin, goos, goarch)
	}
	return nil
}

// checkProbePlatform refuses to upload a probe binary the host cannot run.
// input names where the binary came from ("probe-binary"); empty means it
// is this running program, whose platform is the runtime's.
func checkProbePlatform(bin, input, uname string) error {
	hostOS, hostArch, err := hostPlatform(uname)
	if err != nil {
		return fmt.Errorf("check the host's platform: %w", err)
	}
	binOS, binArch := runtime.GOOS, runtime.GOARCH
	if input != "" {
		if binOS, binArch, err = binaryPlatform(bin); err != nil {
			return fmt.Errorf("input %q: %w; expected a %s/%s build of mvm-verify", input, err, hostOS, hostArch)
		}
	}
	if binOS == hostOS && binArch == hostArch {
		return nil
	}
	want := fmt.Sprintf("%s/%s", hostOS, hostArch)
	if input != "" {
		return fmt.Errorf("input %q: %s is a %s/%s build, but the host is %s (%s): expected a %s build of mvm-verify",
			input, bin, binOS, binArch, strings.TrimSpace(uname), want, want)
	}
	return fmt.Errorf("the probe binary is this mvm-verify, a %s/%s build, but the host is %s (%s): "+
		"set the input \"probe-binary\" to a %s build of mvm-verify", binOS, binArch, strings.TrimSpace(uname), want, want)
}
