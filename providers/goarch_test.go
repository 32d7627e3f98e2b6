package providers_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers"
)

// elfHeader is the bare ELF header of an executable of machine m, class
// and byte order (no program or section headers): enough for debug/elf to
// read what ELFGoArch looks at, as it reads a real binary's.
func elfHeader(t *testing.T, m elf.Machine, class elf.Class, order binary.ByteOrder) []byte {
	t.Helper()
	data := elf.ELFDATA2LSB
	if order == binary.ByteOrder(binary.BigEndian) {
		data = elf.ELFDATA2MSB
	}
	var ident [elf.EI_NIDENT]byte
	copy(ident[:], elf.ELFMAG)
	ident[elf.EI_CLASS], ident[elf.EI_DATA], ident[elf.EI_VERSION] = byte(class), byte(data), byte(elf.EV_CURRENT)
	var buf bytes.Buffer
	var err error
	if class == elf.ELFCLASS64 {
		err = binary.Write(&buf, order, elf.Header64{Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(m),
			Version: uint32(elf.EV_CURRENT), Ehsize: 64})
	} else {
		err = binary.Write(&buf, order, elf.Header32{Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(m),
			Version: uint32(elf.EV_CURRENT), Ehsize: 52})
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestELFGoArch: every ELF machine Go builds Linux binaries for maps to
// its GOARCH, byte order and class included — a big-endian ppc64 binary
// is not a ppc64le one, and runs on no ppc64le host; an x32 or ILP32
// binary of a 64-bit machine is not its 64-bit build — and one Go has no
// build for keeps a name that matches none.
func TestELFGoArch(t *testing.T) {
	le, be := binary.ByteOrder(binary.LittleEndian), binary.ByteOrder(binary.BigEndian)
	for _, tt := range []struct {
		machine elf.Machine
		class   elf.Class
		order   binary.ByteOrder
		want    string
	}{
		{elf.EM_X86_64, elf.ELFCLASS64, le, "amd64"},
		{elf.EM_X86_64, elf.ELFCLASS32, le, "amd64p32"}, // x32: no Go build
		{elf.EM_AARCH64, elf.ELFCLASS64, le, "arm64"},
		{elf.EM_AARCH64, elf.ELFCLASS64, be, "arm64be"},
		{elf.EM_AARCH64, elf.ELFCLASS32, le, "arm64ilp32"}, // ILP32: no Go build
		{elf.EM_AARCH64, elf.ELFCLASS32, be, "arm64beilp32"},
		{elf.EM_386, elf.ELFCLASS32, le, "386"},
		{elf.EM_ARM, elf.ELFCLASS32, le, "arm"},
		{elf.EM_ARM, elf.ELFCLASS32, be, "armbe"},
		{elf.EM_PPC64, elf.ELFCLASS64, le, "ppc64le"},
		{elf.EM_PPC64, elf.ELFCLASS64, be, "ppc64"},
		{elf.EM_MIPS, elf.ELFCLASS32, be, "mips"},
		{elf.EM_MIPS, elf.ELFCLASS32, le, "mipsle"},
		{elf.EM_MIPS, elf.ELFCLASS64, be, "mips64"},
		{elf.EM_MIPS, elf.ELFCLASS64, le, "mips64le"},
		{elf.EM_RISCV, elf.ELFCLASS64, le, "riscv64"},
		{elf.EM_RISCV, elf.ELFCLASS32, le, "riscv"},
		{elf.EM_S390, elf.ELFCLASS64, be, "s390x"},
		{elf.EM_S390, elf.ELFCLASS32, be, "s390"},
		{elf.EM_LOONGARCH, elf.ELFCLASS64, le, "loong64"},
		{elf.EM_SPARCV9, elf.ELFCLASS64, be, "sparcv9"},
	} {
		f, err := elf.NewFile(bytes.NewReader(elfHeader(t, tt.machine, tt.class, tt.order)))
		if err != nil {
			t.Fatalf("%v %v %v: the test's header does not parse: %v", tt.machine, tt.class, tt.order, err)
		}
		if got := providers.ELFGoArch(f.FileHeader); got != tt.want {
			t.Errorf("ELFGoArch(%v, %v, %v) = %q, want %q", tt.machine, tt.class, tt.order, got, tt.want)
		}
	}
}
