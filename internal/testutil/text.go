package testutil

// Disguising are characters that make text read as something it is not on a
// terminal or in a log line: each must come out of the audit log, a log line
// and integrationsctl's output neutralised (see internal/textsafe).
var Disguising = []struct {
	Name string
	R    rune
}{
	{"newline", '\n'},
	{"escape", 0x1b},
	{"next line (C1)", 0x85},
	{"line separator", 0x2028},
	{"paragraph separator", 0x2029},
	{"left-to-right mark", 0x200E},
	{"right-to-left mark", 0x200F},
	{"left-to-right embedding", 0x202A},
	{"right-to-left embedding", 0x202B},
	{"pop directional formatting", 0x202C},
	{"left-to-right override", 0x202D},
	{"right-to-left override", 0x202E},
	{"left-to-right isolate", 0x2066},
	{"right-to-left isolate", 0x2067},
	{"first strong isolate", 0x2068},
	{"pop directional isolate", 0x2069},
	{"arabic letter mark", 0x061C},
	{"byte order mark", 0xFEFF},
	{"interlinear annotation anchor", 0xFFF9},
}
