package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// print writes m as JSON with -o json, else as the text table that rows draws.
func (a *app) print(m proto.Message, header string, rows func(add func(cols ...any))) error {
	if a.output == "json" {
		b, err := protojson.MarshalOptions{Multiline: true, Indent: "  ", EmitUnpopulated: false}.Marshal(m)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(a.out, string(b))
		return err
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

func cell(v any) string {
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
