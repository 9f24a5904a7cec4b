package store

import (
	"encoding/json"
	"testing"
	"time"
)

// A batch is valid JSON whatever its events hold, and reads back as stored:
// every text as storable makes it, every time to the nanosecond. A batch that
// did not would be written and then fail every listing that reaches it.
func FuzzAuditBatchRoundTrip(f *testing.F) {
	f.Add("0196f1c2-7a3e-7b8c-9d0e-1f2a3b4c5d6e", "org-1", "returned secrets", int64(1_764_000_000_123_456_789))
	f.Add(`say "hi" \ back`, "\x00\x1f\x7f", "\xff\xfe 期限切れ \u2028</script>", int64(-1))
	f.Add("", "", "", int64(0))
	f.Fuzz(func(t *testing.T, id, org, detail string, nanos int64) {
		events := []AuditEvent{
			{ID: id, Time: time.Unix(0, nanos), APIKeyID: detail, Role: org, Method: id, Integration: detail, OrgID: org, Outcome: id, RequestID: org, Detail: detail},
			{ID: detail, Time: time.Unix(0, nanos/2)},
		}
		batch, minTime, maxTime, _ := encodeAuditBatch(events)
		if !json.Valid([]byte(batch)) {
			t.Fatalf("not JSON: %s", batch)
		}
		if minTime.After(maxTime) {
			t.Fatalf("min time %v after max time %v", minTime, maxTime)
		}
		got, err := decodeAuditBatch(7, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range events {
			want := AuditEvent{Seq: 7 + int64(i), ID: storable(e.ID), Time: e.Time.UTC(), APIKeyID: storable(e.APIKeyID), Role: storable(e.Role),
				Method: storable(e.Method), Integration: storable(e.Integration), OrgID: storable(e.OrgID), Outcome: storable(e.Outcome),
				RequestID: storable(e.RequestID), Detail: storable(e.Detail)}
			if got[i] != want {
				t.Fatalf("event %d read back as %+v, want %+v", i, got[i], want)
			}
		}
	})
}
