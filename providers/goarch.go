package providers

import (
	"debug/elf"
	"strings"
)

// ELFGoArch is the GOARCH of an ELF file, from its header: the cycle checks
// a probe binary against its host by it, and a provider picks a host type
// of the binary's architecture by it. The machine alone does not say: a
// PowerPC 64 or MIPS binary is big- or little-endian (ppc64 or ppc64le,
// mips64 or mips64le), and a binary of either order runs only on a host
// of the same. Byte order and class are read from the header, so a
// big-endian arm64 or a 32-bit RISC-V binary is not taken for the Go
// builds it is not; nor is a 32-bit (ILP32) binary of a 64-bit machine —
// x32 on x86-64, ILP32 on arm64 — which no Go build makes. A machine Go
// does not build for is named as ELF names it ("sparcv9"), which matches
// no build.
func ELFGoArch(h elf.FileHeader) string {
	// The header's data encoding, not the ByteOrder debug/elf derived from
	// it: an interface value compared with == says more about how the
	// reader was built than about the file.
	big := h.Data == elf.ELFDATA2MSB
	is64 := h.Class == elf.ELFCLASS64
	// Names of another byte order or class are go/build's (arm64be,
	// mips64le, amd64p32) or made up alike (arm64ilp32): those without a
	// Go port match no build.
	switch h.Machine {
	case elf.EM_X86_64:
		if !is64 {
			return "amd64p32" // x32
		}
		return "amd64"
	case elf.EM_386:
		return "386"
	case elf.EM_AARCH64:
		arch := "arm64"
		if big {
			arch += "be"
		}
		if !is64 {
			arch += "ilp32"
		}
		return arch
	case elf.EM_ARM:
		if big {
			return "armbe"
		}
		return "arm"
	case elf.EM_PPC64:
		if big {
			return "ppc64"
		}
		return "ppc64le"
	case elf.EM_MIPS:
		arch := "mips"
		if is64 {
			arch = "mips64"
		}
		if !big {
			arch += "le"
		}
		return arch
	case elf.EM_RISCV:
		if is64 {
			return "riscv64"
		}
		return "riscv"
	case elf.EM_S390:
		if is64 {
			return "s390x"
		}
		return "s390"
	case elf.EM_LOONGARCH:
		if is64 {
			return "loong64"
		}
		return "loong32"
	}
	return strings.ToLower(strings.TrimPrefix(h.Machine.String(), "EM_"))
}
