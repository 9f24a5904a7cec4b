package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

// A logger derived with With keeps adding the call's request_id, once, at the
// top level; a record logged outside a call has none.
func TestRequestIDReachesLoggersDerivedWithAttrs(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	logger := slog.New(WithRequestIDs(slog.NewJSONHandler(&out, nil))).With("component", "refresher")
	inCall := context.WithValue(context.Background(), callRecordKey{}, &callRecord{requestID: "req-1"})
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want any
	}{
		{"in a call", inCall, "req-1"},
		{"outside a call", context.Background(), nil},
	} {
		out.Reset()
		logger.InfoContext(tc.ctx, "token refreshed")
		var line map[string]any
		if err := json.Unmarshal(out.Bytes(), &line); err != nil {
			t.Fatalf("%s: %v in %s", tc.name, err, out.String())
		}
		if line["request_id"] != tc.want || line["component"] != "refresher" || bytes.Count(out.Bytes(), []byte(`"request_id"`)) > 1 {
			t.Errorf("%s: %s; want request_id %v and the derived attribute", tc.name, out.String(), tc.want)
		}
	}
}

// A logger derived with WithGroup nests its own attributes in the group, not
// the request_id, which stays at the top level where every other line has it.
func TestRequestIDStaysAtTopLevelInGroups(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	logger := slog.New(WithRequestIDs(slog.NewJSONHandler(&out, nil))).With("component", "refresher").WithGroup("token").With("connection", "graph")
	inCall := context.WithValue(context.Background(), callRecordKey{}, &callRecord{requestID: "req-1"})
	logger.InfoContext(inCall, "token refreshed", "status", "CONNECTED")
	var line struct {
		RequestID string `json:"request_id"`
		Component string `json:"component"`
		Token     map[string]any
	}
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("%v in %s", err, out.String())
	}
	want := map[string]any{"connection": "graph", "status": "CONNECTED"}
	if line.RequestID != "req-1" || line.Component != "refresher" || len(line.Token) != len(want) || line.Token["connection"] != want["connection"] || line.Token["status"] != want["status"] {
		t.Errorf("%s; want request_id and component at the top level, connection and status in the group", out.String())
	}
}
