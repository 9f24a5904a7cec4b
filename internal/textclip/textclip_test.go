package textclip_test

import (
	"testing"
	"unicode/utf8"

	"github.com/bifrost/integrations/internal/textclip"
)

func TestClipCutsOnACharacterBoundary(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		n        int
		want     string
	}{
		{"short text is kept", "invalid_grant", 64, "invalid_grant"},
		{"exactly n bytes is kept", "abcd", 4, "abcd"},
		{"ASCII is cut at n", "abcdef", 4, "abcd…"},
		{"a two-byte character straddling n is left out", "abcdé", 5, "abcd…"},
		{"a three-byte character straddling n is left out", "ab日本", 4, "ab…"},
		{"n inside the first character leaves only the mark", "日本", 2, "…"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := textclip.Clip(tc.in, tc.n)
			if got != tc.want || !utf8.ValidString(got) {
				t.Fatalf("Clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}
