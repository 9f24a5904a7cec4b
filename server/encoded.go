package server

import (
	"context"
	"runtime"
	"sync"
	"weak"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/bifrost/integrations/store"
)

// Encoding GetIntegration's answer costs more than the rest of a call served
// from the cache (the config Struct's map is encoded by reflection; see
// BenchmarkGetIntegrationAnswer and `make bench`), yet the answer changes only
// when the database does or the call refreshes the token. So the handler
// returns a message of its own on every call, which the interceptors see as
// any other response, and offers the bytes it encodes to, made once per read
// of the database; the server's codec sends those bytes instead of encoding
// the message again.

// encodedMessage is a response with the bytes it encodes to, which the
// server's codec sends as they are. It is still the message (a stats handler
// reads it as one).
type encodedMessage struct {
	proto.Message
	wire []byte
}

type encodingOfferKey struct{}

// offerEncoding tells sendEncoded that msg encodes to wire. The offer holds
// only while msg is the call's response and is not changed in place after
// the handler returns: an interceptor that changes a response must return a
// new message (TestGetIntegrationSendsTheMessageItReturns runs every
// interceptor of the server).
func offerEncoding(ctx context.Context, msg proto.Message, wire []byte) {
	if o, ok := ctx.Value(encodingOfferKey{}).(*encodedMessage); ok {
		o.Message, o.wire = msg, wire
	}
}

// sendEncoded runs first in the server's chain, so that every other
// interceptor sees the response itself: once they have returned, a response
// whose encoding its handler offered goes to the codec as an encodedMessage.
func sendEncoded(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	offer := &encodedMessage{}
	resp, err := handler(context.WithValue(ctx, encodingOfferKey{}, offer), req)
	if err != nil || offer.Message == nil || resp != any(offer.Message) {
		return resp, err
	}
	return offer, nil
}

// answerWires keeps, for each read the store caches and each view of it, the
// encoding of its answer with the token it read, for as long as the store
// keeps the read.
type answerWires struct {
	m sync.Map // answerWireKey → []byte
}

type answerWireKey struct {
	read weak.Pointer[store.Resolved]
	view answerView
}

// of returns the encoding of r's answer with r.Token as view allows, made
// deterministic so that tests can compare it byte for byte.
func (a *answerWires) of(r *store.Resolved, view answerView) ([]byte, error) {
	key := answerWireKey{weak.Make(r), view}
	if w, ok := a.m.Load(key); ok {
		return w.([]byte), nil
	}
	answer, err := integrationAnswer(r, r.Token, view)
	if err != nil {
		return nil, err
	}
	wire, err := proto.MarshalOptions{Deterministic: true}.Marshal(answer)
	if err != nil {
		return nil, err
	}
	if w, loaded := a.m.LoadOrStore(key, wire); loaded {
		return w.([]byte), nil
	}
	runtime.AddCleanup(r, func(key answerWireKey) { a.m.Delete(key) }, key)
	return wire, nil
}
