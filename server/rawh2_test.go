package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/health"

	"github.com/bifrost/integrations/audit"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/server"
)

// serveOnLoopback serves a gRPC server built by NewGRPCServer with deps (and
// a store, refresher, data keys and audit recorder of its own) on a loopback
// TCP port until the test ends, and returns its address.
func serveOnLoopback(t *testing.T, deps server.Deps) string {
	t.Helper()
	env := testutil.Start(t)
	deps.Store, deps.Refresher, deps.Keys = env.Store, env.Refresher, env.Keys
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	deps.Audit = audit.New(env.Store, audit.Options{Logger: deps.Logger})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := deps.Audit.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	srv, err := server.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	gs := srv.NewGRPCServer(health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis) //nolint:errcheck // ends with Stop
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

// rawH2 is an HTTP/2 client that writes exactly the frames a test asks for,
// as an attacker would, and reports what the server sends back.
type rawH2 struct {
	t      *testing.T
	conn   net.Conn
	fr     *http2.Framer
	addr   string
	wmu    sync.Mutex
	next   uint32
	frames chan h2Event
	// settings are the server's first SETTINGS.
	settings map[http2.SettingID]uint32
}

// h2Event is one frame the server sent, copied out of the framer's buffers.
type h2Event struct {
	typ       http2.FrameType
	streamID  uint32
	endStream bool
	code      http2.ErrCode     // RST_STREAM, GOAWAY
	headers   map[string]string // HEADERS
	at        time.Time
}

// dialRawH2 opens a plaintext HTTP/2 connection and completes the SETTINGS
// exchange.
func dialRawH2(t *testing.T, addr string) *rawH2 {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawH2{t: t, conn: conn, fr: http2.NewFramer(conn, conn), addr: addr, next: 1, frames: make(chan h2Event, 1024)}
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.MaxHeaderListSize = 1 << 20
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	c.write(func() error { return c.fr.WriteSettings() })
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := c.fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		t.Fatalf("first frame from the server: %v, want its SETTINGS", f)
	}
	c.settings = map[http2.SettingID]uint32{}
	_ = sf.ForeachSetting(func(s http2.Setting) error { c.settings[s.ID] = s.Val; return nil })
	_ = conn.SetReadDeadline(time.Time{})
	c.write(func() error { return c.fr.WriteSettingsAck() })
	go c.readLoop()
	return c
}

func (c *rawH2) write(w func() error) {
	c.t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := w(); err != nil {
		c.t.Fatalf("writing to the server: %v", err)
	}
}

func (c *rawH2) readLoop() {
	defer close(c.frames)
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return
		}
		e := h2Event{typ: f.Header().Type, streamID: f.Header().StreamID, at: time.Now()}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			e.endStream = f.StreamEnded()
			e.headers = map[string]string{}
			for _, hf := range f.Fields {
				e.headers[hf.Name] = hf.Value
			}
		case *http2.DataFrame:
			e.endStream = f.StreamEnded()
		case *http2.RSTStreamFrame:
			e.code = f.ErrCode
		case *http2.GoAwayFrame:
			e.code = f.ErrCode
		case *http2.PingFrame:
			if !f.IsAck() {
				c.wmu.Lock()
				_ = c.fr.WritePing(true, f.Data)
				c.wmu.Unlock()
			}
			continue
		case *http2.SettingsFrame, *http2.WindowUpdateFrame:
			continue
		}
		c.frames <- e
	}
}

// openStream sends a request's HEADERS for method, and no DATA, and returns
// the stream's ID. extra adds header fields (grpc-timeout, metadata).
func (c *rawH2) openStream(method string, extra ...hpack.HeaderField) uint32 {
	c.t.Helper()
	id, err := c.tryOpenStream(method, extra...)
	if err != nil {
		c.t.Fatalf("writing to the server: %v", err)
	}
	return id
}

// tryOpenStream is openStream for headers the server may refuse by closing
// the connection while they are written.
func (c *rawH2) tryOpenStream(method string, extra ...hpack.HeaderField) (uint32, error) {
	c.t.Helper()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, hf := range append([]hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"}, {Name: ":path", Value: method},
		{Name: ":authority", Value: c.addr}, {Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"},
	}, extra...) {
		if err := enc.WriteField(hf); err != nil {
			c.t.Fatal(err)
		}
	}
	id := c.next
	c.next += 2
	// A block larger than a frame goes on in CONTINUATION frames.
	const maxFrame = 16 << 10
	b := block.Bytes()
	first := b[:min(len(b), maxFrame)]
	b = b[len(first):]
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndHeaders: len(b) == 0}); err != nil {
		return id, err
	}
	for len(b) > 0 {
		chunk := b[:min(len(b), maxFrame)]
		b = b[len(chunk):]
		if err := c.fr.WriteContinuation(id, len(b) == 0, chunk); err != nil {
			return id, err
		}
	}
	return id, nil
}

// sendMessage sends one gRPC message (uncompressed) on stream id.
func (c *rawH2) sendMessage(id uint32, msg []byte, endStream bool) {
	c.t.Helper()
	if err := c.trySendMessage(id, msg, endStream); err != nil {
		c.t.Fatalf("writing to the server: %v", err)
	}
}

func (c *rawH2) trySendMessage(id uint32, msg []byte, endStream bool) error {
	framed := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(framed[1:], uint32(len(msg)))
	framed = append(framed, msg...)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.fr.WriteData(id, endStream, framed)
}

// await returns the server's frames until until says it has seen enough,
// failing the test when timeout passes first.
func (c *rawH2) await(timeout time.Duration, until func(h2Event) bool) {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e, ok := <-c.frames:
			if !ok {
				c.t.Fatal("the server closed the connection")
			}
			if until(e) {
				return
			}
		case <-deadline:
			c.t.Fatalf("nothing the test waited for in %s", timeout)
		}
	}
}

// streamEnd says how the server ended a stream: "" while it is open.
func streamEnd(e h2Event) string {
	switch {
	case e.typ == http2.FrameRSTStream:
		return "RST_STREAM " + e.code.String()
	case e.typ == http2.FrameHeaders && e.endStream:
		return "grpc-status " + e.headers["grpc-status"]
	case e.typ == http2.FrameData && e.endStream:
		return "END_STREAM"
	}
	return ""
}
