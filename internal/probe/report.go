package probe

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
)

// mark is how a row reads: good, bad or just information.
type mark int

const (
	info mark = iota
	good
	bad
)

type row struct {
	check  string
	mark   mark
	result string
	detail string
}

func (r Report) rows() []row {
	k := r.KVM
	yes := func(ok bool, y, n string) (mark, string) {
		if ok {
			return good, y
		}
		return bad, n
	}
	var rows []row
	add := func(check string, m mark, result, detail string) {
		rows = append(rows, row{check, m, result, detail})
	}

	m, res := yes(k.DevicePresent, "present", "missing")
	add("/dev/kvm", m, res, "")
	if k.DevicePresent {
		m, res = yes(k.OpenRW, "yes", "no")
		add("KVM open read-write", m, res, k.OpenError)
	}
	if k.OpenRW {
		m, res = yes(k.APIVersion == KVMAPIVersion, strconv.Itoa(k.APIVersion), strconv.Itoa(k.APIVersion))
		add("KVM API version", m, res, firstNonEmpty(k.APIError, "want "+strconv.Itoa(KVMAPIVersion)))
		if k.APIError == "" {
			m, res = yes(k.CreateVM, "ok", "failed")
			add("KVM_CREATE_VM", m, res, k.CreateVMError)
		}
	}
	nested := "no nested parameter"
	if k.Nested != "" {
		nested = "nested=" + k.Nested
	}
	add("KVM flavour", info, firstNonEmpty(k.Flavor, "none"), nested)
	switch k.StandardGuestsBoot {
	case "yes":
		add("standard guests boot", good, "yes", k.Reason)
	case "no":
		add("standard guests boot", bad, "no", k.Reason)
	default:
		add("standard guests boot", info, "unknown", k.Reason)
	}

	flags := "none"
	switch {
	case r.CPU.VMX:
		flags = "vmx"
	case r.CPU.SVM:
		flags = "svm"
	}
	add("CPU virtualization flag", info, flags, fmt.Sprintf("%s, %d CPUs", firstNonEmpty(r.CPU.Model, "unknown model"), r.CPU.Count))

	m, res = yes(r.Seccomp.Enforced, "enforced", "not enforced")
	add("seccomp filter", m, res, r.Seccomp.Detail)
	m, res = yes(r.CgroupV2, "yes", "no")
	add("cgroup v2", m, res, "")
	add(deviceRow("vhost-vsock", r.VhostVsock))
	add(deviceRow("/dev/net/tun", r.Tun))
	add("kernel", info, r.Kernel, r.Arch)
	add("memory", info, humanBytes(r.MemoryBytes), "")
	add("free disk", info, humanBytes(r.FreeDiskBytes), r.DiskPath)
	m, _ = yes(r.Lane == LaneKVM, "", "")
	add("lane", m, r.Lane, "")
	return rows
}

func deviceRow(name string, d Device) (string, mark, string, string) {
	switch {
	case d.Openable:
		return name, good, "openable", ""
	case d.Present:
		return name, bad, "present, cannot open", d.Error
	}
	return name, bad, "missing", d.Error
}

// Markdown renders the report as a table for a job summary, each piece of
// the host's text through escape (the summary's cell escaping). The report
// comes from the host, which may be anyone's (the ssh provider): its text
// must not put a link, an image, HTML or a mention into the summary. The
// escaping is the caller's, so that this package, which also runs on the
// host, depends on no reporting.
func (r Report) Markdown(escape func(string) string) string {
	cell := func(s string) string { return escape(oneLine(s)) }
	var b strings.Builder
	b.WriteString("| check | result | detail |\n|---|---|---|\n")
	symbol := map[mark]string{info: "", good: "✅ ", bad: "❌ "}
	for _, row := range r.rows() {
		fmt.Fprintf(&b, "| %s | %s%s | %s |\n", cell(row.check), symbol[row.mark], cell(row.result), cell(row.detail))
	}
	if len(r.Problems) > 0 {
		b.WriteString("\n**Problems**\n\n")
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "- %s\n", listItem(cell(p)))
		}
	}
	return b.String()
}

// Text renders the report for a terminal.
func (r Report) Text() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	symbol := map[mark]string{info: "    ", good: "ok  ", bad: "FAIL"}
	for _, row := range r.rows() {
		fmt.Fprintf(w, "%s %s\t%s\t%s\n", symbol[row.mark], row.check, oneLine(row.result), oneLine(row.detail))
	}
	w.Flush()
	if len(r.Problems) > 0 {
		b.WriteString("\nproblems:\n")
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "  - %s\n", oneLine(p))
		}
	}
	return b.String()
}

// listItem makes an escaped cell an item of a markdown list, where a
// leading marker would also start a heading, a nested list or a rule.
func listItem(e string) string {
	if e != "" && strings.ContainsRune("#+-*=_", rune(e[0])) {
		e = `\` + e
	}
	return e
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
