package cli

import (
	"runtime/debug"
)

// versionString is what `version` prints: the version the linker set
// (release builds: -X …cli.Version=v1.2.3), else what the Go toolchain
// recorded: the commit a plain `go build` in a checkout was built from
// (dev-<12 hex digits>, +dirty with uncommitted changes), or the module
// version `go install …@v1.2.3` built. Without either it is "dev".
func versionString(linked string, bi *debug.BuildInfo, ok bool) string {
	if linked != "" && linked != "dev" {
		return linked
	}
	if !ok || bi == nil {
		return "dev"
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" {
		v := "dev-" + rev[:min(12, len(rev))]
		if dirty {
			v += "+dirty"
		}
		return v
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	return "dev"
}

// version is this binary's version, as versionString reads it.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	return versionString(Version, bi, ok)
}
