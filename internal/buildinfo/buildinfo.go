// Package buildinfo says which build a binary is, for --version: the module
// version, the commit it was built from and the Go release.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// commit is the fallback the Makefile sets with -ldflags -X (git describe),
// for builds the Go toolchain does not stamp with the repository's revision
// (-buildvcs=false, a copy of the source without .git).
var commit string

// String describes the running binary, named name:
// "integrationsctl (devel), commit 1a2b3c4d5e6f (modified), go1.26.8".
func String(name string) string {
	info, _ := debug.ReadBuildInfo()
	return describe(name, info, commit)
}

// describe is String for a given build; info may be nil (no build info).
func describe(name string, info *debug.BuildInfo, fallbackCommit string) string {
	version, goVersion := "(devel)", ""
	settings := map[string]string{}
	if info != nil {
		if v := info.Main.Version; v != "" {
			version = v
		}
		goVersion = info.GoVersion
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
	}
	rev := settings["vcs.revision"]
	if rev == "" {
		rev = strings.TrimSpace(fallbackCommit)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s, commit ", name, version)
	switch {
	case rev == "":
		b.WriteString("unknown")
	case len(rev) == 40 && strings.Trim(rev, "0123456789abcdef") == "":
		b.WriteString(rev[:12]) // a full hash; twelve digits name it
	default:
		b.WriteString(rev) // as git describe put it: v1.2-3-gabc, abc-modified
	}
	if settings["vcs.modified"] == "true" {
		b.WriteString(" (modified)")
	}
	if t := settings["vcs.time"]; t != "" {
		fmt.Fprintf(&b, " of %s", t)
	}
	if goVersion != "" {
		fmt.Fprintf(&b, ", %s", goVersion)
	}
	return b.String()
}
