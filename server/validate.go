package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/bifrost/integrations/config"
	"github.com/bifrost/integrations/store"
)

// Limits on what a request may carry.
const (
	maxConfigBytes  = 64 << 10
	maxTextLen      = 1024
	maxIDLen        = 256
	defaultPageSize = 50
	maxPageSize     = 1000
)

// namePattern is for integration, connection and organization names and IDs.
// isName checks it.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

func (v *violations) name(field, value string) {
	if value == "" {
		v.add(field, "is required")
	} else if !isName(value) {
		v.add(field, "must match "+namePattern.String())
	}
}

// isName says whether s matches namePattern. Nearly every call checks a name
// or two, and the regular expression's matcher costs far more than a look at
// each byte; TestIsNameIsNamePattern holds the two together.
func isName(s string) bool {
	if len(s) == 0 || len(s) > 128 || !isAlphanumeric(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlphanumeric(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func isAlphanumeric(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func (v *violations) optionalName(field, value string) {
	if value != "" {
		v.name(field, value)
	}
}

// id checks a required identifier this service handed out.
func (v *violations) id(field, value string) {
	if value == "" {
		v.add(field, "is required")
	}
	v.text(field, value, maxIDLen)
}

// text checks free text: valid UTF-8, no control characters, bounded.
func (v *violations) text(field, value string, maxLen int) {
	if problem := textProblem(value, maxLen); problem != "" {
		v.add(field, problem)
	}
}

// textProblem says what makes value unfit to store, or "" if nothing does.
// PostgreSQL refuses a NUL byte in text outright.
func textProblem(value string, maxLen int) string {
	switch {
	case !utf8.ValidString(value):
		return "must be valid UTF-8"
	case len(value) > maxLen:
		return fmt.Sprintf("must be at most %d bytes", maxLen)
	}
	for _, r := range value {
		if unicode.IsControl(r) {
			return "must not contain control characters"
		}
	}
	return ""
}

// entityPattern is what an external entity's ID may be: RFC 3986's unreserved
// characters, starting and ending with a letter or digit. Tenant GUIDs,
// domain names and numeric company IDs fit; anything else could change the
// meaning of a URL it fills ({entity_id} in a host, path or query), or pass
// for another ID on screen. IDs that differ only in case are one entity
// (migration 00013).
var entityPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._~-]{0,254}[A-Za-z0-9])?$`)

func (v *violations) entityID(field, value string) {
	if value != "" && !entityPattern.MatchString(value) {
		v.add(field, "must match "+entityPattern.String())
	}
}

// config checks a Struct's size and nesting (config.MaxDepth: deeper values
// could not be read back by every client); its keys and values are checked
// against the integration's schema by the store.
func (v *violations) config(field string, s *structpb.Struct) {
	if size := proto.Size(s); size > maxConfigBytes {
		v.add(field, fmt.Sprintf("is %d bytes; at most %d are allowed", size, maxConfigBytes))
		return
	}
	var fe *config.FieldError
	if err := config.CheckDepth(s.AsMap()); errors.As(err, &fe) {
		v.add(field+"."+fe.Key, fe.Reason)
	}
}

// pageToken is what a next_page_token encodes: the sort key of the last row
// returned. It is opaque to callers.
type pageToken struct {
	After string `json:"a"`
}

func (v *violations) page(size int32, token string) store.Page {
	p := store.Page{Limit: int(size)}
	switch {
	case size < 0:
		v.add("page_size", "must not be negative")
	case size == 0:
		p.Limit = defaultPageSize
	case size > maxPageSize:
		p.Limit = maxPageSize
	}
	if token == "" {
		return p
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	var pt pageToken
	// A forged token's sort key goes into a query: it must be text like the keys
	// this service hands out.
	if err != nil || json.Unmarshal(raw, &pt) != nil || pt.After == "" || textProblem(pt.After, maxIDLen) != "" {
		v.add("page_token", "is not a token this service returned")
		return p
	}
	p.After = pt.After
	return p
}

// pageOf converts one page of rows for a List response and returns the token of
// the page after it: "" when the rows did not fill the page (it was the last),
// else one that starts after the last row's sort key.
func pageOf[T, P any](page store.Page, rows []T, sortKey func(T) string, convert func(T) (P, error)) ([]P, string, error) {
	out := make([]P, 0, len(rows))
	for _, r := range rows {
		p, err := convert(r)
		if err != nil {
			return nil, "", err
		}
		out = append(out, p)
	}
	if len(rows) == 0 || len(rows) < page.Limit {
		return out, "", nil
	}
	raw, _ := json.Marshal(pageToken{After: sortKey(rows[len(rows)-1])})
	return out, base64.RawURLEncoding.EncodeToString(raw), nil
}

// infallible adapts a conversion that cannot fail to pageOf.
func infallible[T, P any](convert func(T) P) func(T) (P, error) {
	return func(t T) (P, error) { return convert(t), nil }
}
