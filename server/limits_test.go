package server_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/server"
)

var (
	getIntegrationMethod = "/" + integrationsv1.IntegrationsService_ServiceDesc.ServiceName + "/GetIntegration"
	healthCheckMethod    = "/" + healthpb.Health_ServiceDesc.ServiceName + "/Check"
	healthWatchMethod    = "/" + healthpb.Health_ServiceDesc.ServiceName + "/Watch"
)

// Streams opened with HEADERS and no DATA cost the server a goroutine each:
// one connection may hold only as many as the server announces, and the
// server refuses the rest.
func TestStalledStreamsBeyondThePerConnectionLimitAreRefused(t *testing.T) {
	t.Parallel()
	c := dialRawH2(t, serveOnLoopback(t, server.Deps{}))
	limit, ok := c.settings[http2.SettingMaxConcurrentStreams]
	if !ok || limit > 1000 {
		t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS = %d (announced: %v), want a limit of at most 1000", limit, ok)
	}
	const beyond = 10
	var ids []uint32
	for range int(limit) + beyond {
		ids = append(ids, c.openStream(getIntegrationMethod))
	}
	refused := map[uint32]bool{}
	c.await(10*time.Second, func(e h2Event) bool {
		if end := streamEnd(e); end != "" && end != "RST_STREAM "+http2.ErrCodeRefusedStream.String() {
			t.Fatalf("stream %d ended with %s within the limit", e.streamID, end)
		} else if end != "" {
			refused[e.streamID] = true
		}
		return len(refused) == beyond
	})
	for _, id := range ids[limit:] {
		if !refused[id] {
			t.Errorf("stream %d beyond the limit of %d was not refused; refused: %v", id, limit, refused)
		}
	}
}

// A request whose message never arrives ends with DEADLINE_EXCEEDED when the
// server's call time runs out, whatever deadline the caller asked for: the
// interceptors that bound calls only run once the message is in. Streaming
// methods (health Watch) are meant to stay open and are not cut.
func TestStalledRequestIsEndedWhenTheCallTimeRunsOut(t *testing.T) {
	t.Parallel()
	const callTimeout = 300 * time.Millisecond
	addr := serveOnLoopback(t, server.Deps{CallTimeout: callTimeout})
	deadlineExceeded := "grpc-status " + strconv.Itoa(int(codes.DeadlineExceeded))
	for _, tc := range []struct {
		name    string
		method  string
		header  []hpack.HeaderField
		message bool   // the request message is sent, and the stream half-closed
		want    string // how the stream ends; "" for still open after 3 call times
	}{
		{"GetIntegration without a deadline", getIntegrationMethod, nil, false, deadlineExceeded},
		{"GetIntegration with an hour's deadline", getIntegrationMethod, []hpack.HeaderField{{Name: "grpc-timeout", Value: "1H"}}, false, deadlineExceeded},
		{"health Check without a key", healthCheckMethod, nil, false, deadlineExceeded},
		{"health Watch stays open", healthWatchMethod, nil, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dialRawH2(t, addr)
			start := time.Now()
			id := c.openStream(tc.method, tc.header...)
			if tc.message {
				c.sendMessage(id, nil, true)
			}
			wait := 10 * time.Second
			if tc.want == "" {
				wait = 3 * callTimeout
			}
			deadline := time.After(wait)
			for {
				select {
				case e, ok := <-c.frames:
					if !ok {
						t.Fatal("the server closed the connection")
					}
					if e.streamID != id || streamEnd(e) == "" {
						continue
					}
					if got := streamEnd(e); got != tc.want {
						t.Fatalf("the stream ended with %s after %s, want %q", got, e.at.Sub(start), tc.want)
					}
					if took := e.at.Sub(start); took < callTimeout/2 {
						t.Fatalf("the stream ended after %s, before the call time of %s", took, callTimeout)
					}
					return
				case <-deadline:
					if tc.want != "" {
						t.Fatalf("the stream was still open after %s, want it ended with %s", wait, tc.want)
					}
					return
				}
			}
		})
	}
}

// Metadata is bounded far below the message limit: a request whose headers
// exceed 16 KiB is refused by the transport (its stream reset, or the
// connection closed when they exceed it by far) before authentication hashes
// any key, while ordinary metadata passes.
func TestRequestHeadersOverTheLimitAreRefused(t *testing.T) {
	t.Parallel()
	addr := serveOnLoopback(t, server.Deps{})
	for _, tc := range []struct {
		name    string
		header  hpack.HeaderField
		refused bool
	}{
		{"an 8 KiB header", hpack.HeaderField{Name: "x-note", Value: strings.Repeat("a", 8<<10)}, false},
		{"a 20 KiB header", hpack.HeaderField{Name: "x-note", Value: strings.Repeat("a", 20<<10)}, true},
		{"a 10 MiB authorization", hpack.HeaderField{Name: "authorization", Value: "Bearer " + strings.Repeat("k", 10<<20)}, true},
		{"a 15 MiB header", hpack.HeaderField{Name: "x-note", Value: strings.Repeat("a", 15<<20)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dialRawH2(t, addr)
			// A health check needs no key: only the header's size decides.
			id, err := c.tryOpenStream(healthCheckMethod, tc.header)
			if err == nil {
				err = c.trySendMessage(id, nil, true)
			}
			if err != nil && !tc.refused {
				t.Fatalf("writing the request: %v", err)
			}
			got := ""
			deadline := time.After(10 * time.Second)
			for got == "" {
				select {
				case e, ok := <-c.frames:
					if !ok {
						got = "connection closed"
					} else if e.typ == http2.FrameGoAway {
						got = "GOAWAY " + e.code.String()
					} else if e.streamID == id {
						got = streamEnd(e)
					}
				case <-deadline:
					t.Fatal("no answer in 10 s")
				}
			}
			ok := "grpc-status " + strconv.Itoa(int(codes.OK))
			if tc.refused == (got == ok) {
				t.Fatalf("the request ended with %s; refused: %v, want %v", got, got != ok, tc.refused)
			}
		})
	}
}
