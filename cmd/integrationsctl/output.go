package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bifrost/integrations/internal/textsafe"
)

// jsonShape is what -o json promises, for "integrationsctl help json".
const jsonShape = `With -o json every command prints one JSON object on stdout: the service's
answer to the call the command makes (ListTokensResponse for "tokens list",
GetIntegrationResponse's integration for "get", ...), as the proto files in
proto/bifrost/integrations describe it. The shape is stable:

  - keys are the fields' JSON names (camelCase: orgId, expiresAt), sorted;
  - every field is present: an empty one is "", 0, false, [], {} or null
    (a message or timestamp that is not set);
  - enum values are their short names, the same words the tables print:
    "CONNECTED", "AUTHORIZATION_CODE", "WORKER" (never TOKEN_STATUS_CONNECTED);
  - 64-bit integers are numbers; timestamps RFC 3339 strings in UTC
    ("2026-12-03T09:20:11Z"); durations strings of seconds ("300s");
  - secrets are "REDACTED" unless --show-secrets.

Commands whose answer is a sentence in text (connect, disconnect) print the
answer the sentence is made from: connect an Authorization (status, detail,
tokenId, ...) or, for client_credentials, a Token; disconnect the token it
deleted. Deletions print the (empty) answer, {}. "providers list" and
"providers get", which call nothing, print the catalog entries in the same
shape. Errors go to stderr as text, and the exit status is 1.

  integrationsctl tokens list -o json | jq -r '.tokens[] | select(.status != "CONNECTED") | .id'`

// jsonHelpTopic is "integrationsctl help json".
func jsonHelpTopic() *cobra.Command {
	return &cobra.Command{Use: "json", Short: "The shape of -o json output", Long: jsonShape}
}

// print writes m as JSON with -o json, else as the text table that rows draws.
// Either way no text it prints can break or reorder a line on the terminal:
// table cells go through textsafe.Clean, JSON through writeJSON.
func (a *app) print(m proto.Message, header string, rows func(add func(cols ...any))) error {
	if a.output == "json" {
		return a.writeJSON(m)
	}
	return a.table(header, rows)
}

// printValue is print for an answer that is no message of the service's (the
// provider catalog): v as JSON with -o json, else the table rows draws.
func (a *app) printValue(v any, header string, rows func(add func(cols ...any))) error {
	if a.output == "json" {
		return a.encodeJSON(v)
	}
	return a.table(header, rows)
}

// table writes the text table that rows draws under header.
func (a *app) table(header string, rows func(add func(cols ...any))) error {
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	rows(func(cols ...any) {
		parts := make([]string, len(cols))
		for i, c := range cols {
			parts[i] = cell(c)
		}
		fmt.Fprintln(tw, strings.Join(parts, "\t"))
	})
	return tw.Flush()
}

// writeJSON writes m in the shape jsonShape describes, with the characters
// textsafe neutralises escaped (\u202e): the same JSON for a program, a
// faithful one for a person.
func (a *app) writeJSON(m proto.Message) error {
	v, err := jsonValue(m.ProtoReflect())
	if err != nil {
		return err
	}
	return a.encodeJSON(v)
}

// encodeJSON writes v, a value encoding/json writes in jsonShape (maps, or
// structs whose fields are declared in the order of their JSON names), as
// writeJSON writes a message.
func (a *app) encodeJSON(v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // URLs keep their & as is
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := a.out.Write(textsafe.EscapeJSON(b.Bytes()))
	return err
}

// jsonValue is m as a value encoding/json writes in jsonShape: protojson's
// field names and well-known types, with every field present, short enum
// names and 64-bit integers as numbers. protojson alone does neither of the
// last two, and varies its whitespace from build to build on purpose.
func jsonValue(m protoreflect.Message) (any, error) {
	if strings.HasPrefix(string(m.Descriptor().FullName()), "google.protobuf.") {
		if !m.IsValid() {
			return nil, nil
		}
		raw, err := protojson.Marshal(m.Interface())
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		return v, dec.Decode(&v)
	}
	if !m.IsValid() {
		return nil, nil
	}
	out := map[string]any{}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() && !m.Has(fd) {
			continue // a oneof shows the member that is set
		}
		v, err := fieldValue(m, fd)
		if err != nil {
			return nil, err
		}
		out[fd.JSONName()] = v
	}
	return out, nil
}

func fieldValue(m protoreflect.Message, fd protoreflect.FieldDescriptor) (any, error) {
	v := m.Get(fd)
	switch {
	case fd.IsList():
		list := v.List()
		out := make([]any, list.Len())
		for i := range list.Len() {
			var err error
			if out[i], err = scalarValue(fd, list.Get(i)); err != nil {
				return nil, err
			}
		}
		return out, nil
	case fd.IsMap():
		out := map[string]any{}
		var err error
		v.Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			out[k.String()], err = scalarValue(fd.MapValue(), v)
			return err == nil
		})
		return out, err
	case fd.Message() != nil && !m.Has(fd):
		return nil, nil
	}
	return scalarValue(fd, v)
}

func scalarValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) (any, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return jsonValue(v.Message())
	case protoreflect.EnumKind:
		return enumName(fd.Enum(), v.Enum()), nil
	case protoreflect.BoolKind:
		return v.Bool(), nil
	case protoreflect.StringKind:
		return v.String(), nil
	case protoreflect.BytesKind:
		return base64.StdEncoding.EncodeToString(v.Bytes()), nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Sprint(f), nil // JSON has no NaN; protojson writes it as a string too
		}
		return v.Float(), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return v.Uint(), nil
	}
	return v.Int(), nil
}

// enumName is an enum value's name without its type's prefix, the one
// spelling of a status or role everywhere integrationsctl prints one:
// CONNECTED for TOKEN_STATUS_CONNECTED and CONNECTION_STATUS_CONNECTED alike.
// A number the enum does not know is printed as a number.
func enumName(e protoreflect.EnumDescriptor, n protoreflect.EnumNumber) any {
	value := e.Values().ByNumber(n)
	if value == nil {
		return int64(n)
	}
	return strings.TrimPrefix(string(value.Name()), enumPrefix(e))
}

// enumPrefix is an enum's value prefix by the buf lint rule ENUM_VALUE_PREFIX:
// its name in UPPER_SNAKE_CASE and an underscore (TokenStatus: TOKEN_STATUS_).
func enumPrefix(e protoreflect.EnumDescriptor) string {
	var b strings.Builder
	for i, r := range string(e.Name()) {
		if unicode.IsUpper(r) && i > 0 {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String() + "_"
}

// cell is v as one table cell, safe to print (textsafe.Clean).
func cell(v any) string { return textsafe.Clean(cellText(v)) }

func cellText(v any) string {
	switch x := v.(type) {
	case *timestamppb.Timestamp:
		if x == nil {
			return "-"
		}
		return x.AsTime().Local().Format(time.RFC3339)
	case *durationpb.Duration:
		if x == nil {
			return "-"
		}
		return x.AsDuration().String()
	case []string:
		if len(x) == 0 {
			return "-"
		}
		return strings.Join(x, ",")
	case string:
		if x == "" {
			return "-"
		}
		return x
	case protoreflect.Enum:
		return fmt.Sprint(enumName(x.Descriptor(), x.Number()))
	}
	return fmt.Sprint(v)
}
