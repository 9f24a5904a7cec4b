package server

import (
	"strings"
	"testing"
)

// isName accepts exactly what namePattern matches.
func TestIsNameIsNamePattern(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "a", "Z", "0", "Microsoft_Graph", "org-a", "org.a", "a_b-c.d9",
		"_a", "-a", ".a", "a/b", "a b", "a\x00", "a\n", "é", "aé", "a:b", "a@b", "a+b",
		strings.Repeat("a", 127), strings.Repeat("a", 128), strings.Repeat("a", 129),
		"a" + strings.Repeat("-", 127), "a" + strings.Repeat("-", 128),
	} {
		if got, want := isName(s), namePattern.MatchString(s); got != want {
			t.Errorf("isName(%q) = %v; namePattern says %v", s, got, want)
		}
	}
	for c := range 256 {
		for _, s := range []string{string([]byte{byte(c)}), string([]byte{'a', byte(c)})} {
			if got, want := isName(s), namePattern.MatchString(s); got != want {
				t.Errorf("isName(%q) = %v; namePattern says %v", s, got, want)
			}
		}
	}
}
