package textsafe_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/internal/textsafe"
)

func TestCleanAndEscapeJSONNeutraliseEveryCharacterThatDisguisesALine(t *testing.T) {
	t.Parallel()
	for _, c := range testutil.Disguising {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			text := "refresh failed" + string(c.R) + "OK: granted"
			if !textsafe.Unsafe(c.R) || textsafe.Safe(text) {
				t.Fatalf("U+%04X is not taken for unsafe", c.R)
			}
			if got, want := textsafe.Clean(text), "refresh failed\uFFFDOK: granted"; got != want {
				t.Fatalf("Clean = %q, want %q", got, want)
			}
			b, err := json.Marshal(map[string]string{"detail": text})
			if err != nil {
				t.Fatal(err)
			}
			escaped := textsafe.EscapeJSON(b)
			var back map[string]string
			if strings.ContainsRune(string(escaped), c.R) || json.Unmarshal(escaped, &back) != nil || back["detail"] != text {
				t.Fatalf("EscapeJSON = %s; want the same JSON value without U+%04X written out", escaped, c.R)
			}
		})
	}
}

func TestCleanKeepsTextThatDisguisesNothing(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		"invalid_grant (AADSTS70000)",
		"期限切れ",
		"שגיאה: פג תוקף", // right-to-left script without controls
		"انتهت الصلاحية", // Arabic
		"می\u200cخواهم",  // Persian with a zero width non-joiner
		"👩\u200d💻 done",  // an emoji joined by a zero width joiner
		"soft\u00adhyphen",
		"",
	} {
		if got := textsafe.Clean(text); got != text {
			t.Errorf("Clean(%q) = %q, want it kept", text, got)
		}
		if b := []byte(`{"a":"` + text + `"}`); string(textsafe.EscapeJSON(b)) != string(b) {
			t.Errorf("EscapeJSON changed %q", text)
		}
	}
	if got := textsafe.Clean("cut\xe9\x99"); got != "cut\uFFFD" {
		t.Errorf("Clean of invalid UTF-8 = %q", got)
	}
}

func TestSafeReadsPastASCII(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]bool{
		"tenant-123": true, "Zürich": true, "tenant\x7f": false, "tenant\x1b[2J": false,
		"tenant\xff": false, "tenant\uFFFD": false, "tenant\u202e": false, "Zürich\n": false,
	} {
		if got := textsafe.Safe(text); got != want {
			t.Errorf("Safe(%q) = %v, want %v", text, got, want)
		}
	}
}
