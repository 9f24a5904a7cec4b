package store

import "testing"

func TestStorableTextKeepsWhatItCanAndReplacesTheRest(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{"plain text is kept", "invalid_grant (AADSTS70000)", "invalid_grant (AADSTS70000)"},
		{"other scripts are kept", "期限切れ", "期限切れ"},
		{"a NUL byte is replaced", "a\x00b", "a\uFFFDb"},
		{"a terminal escape is replaced", "\x1b[31mred", "\uFFFD[31mred"},
		{"a newline is replaced", "line\nbreak", "line\uFFFDbreak"},
		{"a cut UTF-8 sequence is replaced", "期\xe9\x99", "期\uFFFD"},
		{"empty stays empty", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := storable(tc.in); got != tc.want {
				t.Fatalf("storable(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
