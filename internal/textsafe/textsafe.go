// Package textsafe neutralises the characters that make text read as something
// it is not where people read it (a terminal, a log, a table): control
// characters such as a newline or a terminal escape, the line and paragraph
// separators, and the invisible marks that reorder or hide text ("Trojan
// Source", CVE-2021-42574). The store applies it to every audit text it keeps,
// the daemon's log handler to every text it logs, and integrationsctl to every
// text it prints.
package textsafe

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Unsafe reports whether r is one of the characters this package neutralises:
//   - control characters (Cc: C0, DEL, C1 with NEL);
//   - U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR, which end a line
//     where a reader looks for none;
//   - the bidirectional controls (U+061C, U+200E-U+200F, U+202A-U+202E,
//     U+2066-U+2069), which reorder what follows them on screen;
//   - U+FEFF (byte order mark, zero width no-break space) and U+FFF9-U+FFFB
//     (interlinear annotation), which hide text.
//
// Other format characters (the joiners of emoji and Indic scripts, the soft
// hyphen) are kept: they neither move nor hide text.
func Unsafe(r rune) bool {
	if r < utf8.RuneSelf {
		return unsafeASCII(byte(r))
	}
	switch {
	case r == 0xFEFF, r >= 0xFFF9 && r <= 0xFFFB:
		return true
	}
	return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Bidi_Control)
}

// unsafeASCII is Unsafe for an ASCII character: small enough to be inlined
// into Safe's loop, which reads every audit text and logged string a byte at
// a time.
func unsafeASCII(c byte) bool { return c < 0x20 || c == 0x7f }

// Safe reports whether s is valid UTF-8 without unsafe characters, so that
// Clean would return it as it is.
func Safe(s string) bool {
	// Nearly every text is ASCII (IDs, names, codes), which needs no decoding:
	// the store checks every audit event's texts this way.
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return safeRunes(s[i:])
		}
		if unsafeASCII(c) {
			return false
		}
	}
	return true
}

// safeRunes is Safe for text that is not all ASCII.
func safeRunes(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || Unsafe(r) {
			return false
		}
	}
	return true
}

// Clean returns s as valid UTF-8 with every unsafe character and every invalid
// byte sequence replaced by U+FFFD; s itself when it holds none.
func Clean(s string) string {
	if Safe(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if Unsafe(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, string(utf8.RuneError)))
}

// EscapeJSON returns JSON text b with every unsafe character written as a
// \uXXXX escape: the same JSON value, but one a terminal shows as it is. It is
// for JSON whose characters outside strings are ASCII, as encoders write it.
func EscapeJSON(b []byte) []byte {
	const hex = "0123456789abcdef"
	var out []byte
	start := 0
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		// JSON's own whitespace is ASCII control characters; those inside
		// strings are escaped by every encoder already.
		if (r < utf8.RuneSelf && r != 0x7f) || !Unsafe(r) {
			i += size
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(b)+12)
		}
		out = append(out, b[start:i]...)
		units := []rune{r}
		if r > 0xFFFF {
			r1, r2 := utf16.EncodeRune(r)
			units = []rune{r1, r2}
		}
		for _, u := range units {
			out = append(out, '\\', 'u', hex[u>>12&0xf], hex[u>>8&0xf], hex[u>>4&0xf], hex[u&0xf])
		}
		i += size
		start = i
	}
	if out == nil {
		return b
	}
	return append(out, b[start:]...)
}
