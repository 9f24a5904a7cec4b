package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bifrost/integrations/internal/textsafe"
)

// print writes m as JSON with -o json, else as the text table that rows draws.
// Either way no text it prints can break or reorder a line on the terminal:
// table cells go through textsafe.Clean, JSON through writeJSON.
func (a *app) print(m proto.Message, header string, rows func(add func(cols ...any))) error {
	if a.output == "json" {
		return a.writeJSON(m)
	}
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

// writeJSON writes m as indented JSON with the characters textsafe neutralises
// escaped (\u202e): the same JSON for a program, a faithful one for a person.
func (a *app) writeJSON(m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  ", EmitUnpopulated: false}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = a.out.Write(append(textsafe.EscapeJSON(b), '\n'))
	return err
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
	case fmt.Stringer:
		s := x.String()
		// Enum names carry their type as a prefix (ROLE_ADMIN); people want ADMIN.
		for _, p := range []string{"CONFIG_TYPE_", "FLOW_", "TOKEN_STATUS_", "ROLE_", "CONNECTION_STATUS_"} {
			s = strings.TrimPrefix(s, p)
		}
		return s
	}
	return fmt.Sprint(v)
}
