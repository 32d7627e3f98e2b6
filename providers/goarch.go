package providers

import (
	"debug/elf"
	"strings"
)

// ELFGoArch is the GOARCH of an ELF machine: the cycle checks a probe
// binary against its host by it, and a provider picks a host type of the
// binary's architecture by it. A machine Go does not build for is named as
// ELF names it ("sparcv9"), which matches no build.
func ELFGoArch(m elf.Machine) string {
	switch m {
	case elf.EM_X86_64:
		return "amd64"
	case elf.EM_AARCH64:
		return "arm64"
	case elf.EM_386:
		return "386"
	case elf.EM_ARM:
		return "arm"
	case elf.EM_RISCV:
		return "riscv64"
	case elf.EM_S390:
		return "s390x"
	case elf.EM_PPC64:
		return "ppc64le"
	case elf.EM_LOONGARCH:
		return "loong64"
	}
	return strings.ToLower(strings.TrimPrefix(m.String(), "EM_"))
}
