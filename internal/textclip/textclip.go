// Package textclip shortens text from outside (a provider's error description,
// what a caller asked for) before it is shown or stored, without cutting a
// character in half: a cut UTF-8 sequence is invalid text, which PostgreSQL
// refuses to store.
package textclip

import "unicode/utf8"

// Clip returns s if it is at most n bytes, else its longest prefix of at most n
// bytes that ends on a character boundary, followed by "…".
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
