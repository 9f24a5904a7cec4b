package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestDescribeNamesTheCommitFromTheBuildOrTheFallback(t *testing.T) {
	t.Parallel()
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "8116058f12ab34cd56ef78901234567890abcdef"}, {Key: "vcs.modified", Value: "true"}, {Key: "vcs.time", Value: "2026-05-01T10:00:00Z"},
	}}
	unstamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}}
	cases := []struct {
		name     string
		info     *debug.BuildInfo
		fallback string
		want     string
	}{
		{"stamped by the toolchain", stamped, "", "integrationsd (devel), commit 8116058f12ab (modified) of 2026-05-01T10:00:00Z, go1.26.8"},
		{"the toolchain's stamp wins over the fallback", stamped, "deadbeef", "commit 8116058f12ab (modified)"},
		{"unstamped: the Makefile's -ldflags fallback", unstamped, "0123456789ab-modified\n", "integrationsd v1.2.3, commit 0123456789ab-modified, go1.26.8"},
		{"neither: says so", unstamped, "", "commit unknown"},
		{"no build info at all", nil, "", "integrationsd (devel), commit unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := describe("integrationsd", tc.info, tc.fallback); !strings.Contains(got, tc.want) {
				t.Errorf("describe = %q, want it to contain %q", got, tc.want)
			}
		})
	}
}
