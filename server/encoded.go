package server

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/store"
)

// Building and encoding GetIntegration's answer costs more than the rest of a
// call served from the cache (the config Struct's map is built and encoded by
// reflection; see BenchmarkGetIntegrationAnswer and `make bench`), yet the
// answer changes only when the database does or the call refreshes the
// token. So the answer is built and encoded once per read of the database and
// view (preparedAnswer), and every call answered with the read's token
// returns that same message, which the interceptors see as any other
// response; the server's codec sends the bytes it was encoded to instead of
// encoding it again. The message is shared by those calls: nothing changes a
// response in place (an interceptor that changes one returns a new message;
// TestGetIntegrationSendsTheMessageItReturns runs every interceptor of the
// server), and it shares nothing with the store's read.

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

// preparedAnswer is what every GetIntegration answer of one read, as one
// view allows, shares: worked out once per read the store caches, not once
// per call.
type preparedAnswer struct {
	// answer is the answer with the read's token, which every call answered
	// with that token returns and nothing changes.
	answer *integrationsv1.GetIntegrationResponse
	// secrets says whether answer holds a secret (returnsSecrets).
	secrets bool
	// wire is answer encoded, deterministically so that tests can compare it
	// byte for byte.
	wire []byte
}

// preparedKey is the key of a read's preparedAnswer for a view
// (store.Resolved.Derived): a byte, which goes into an interface without an
// allocation.
type preparedKey uint8

func preparedKeyOf(view answerView) preparedKey {
	var k preparedKey
	if view.clientSecret {
		k |= 1
	}
	if view.sharedRefreshTokens {
		k |= 2
	}
	return k
}

// prepared returns r's preparedAnswer for view.
func prepared(r *store.Resolved, view answerView) (*preparedAnswer, error) {
	p, err := r.Derived(preparedKeyOf(view), func() (any, error) {
		p := &preparedAnswer{}
		var err error
		if p.answer, err = integrationAnswer(r, r.Token, view); err != nil {
			return nil, err
		}
		p.secrets = returnsSecrets(p.answer)
		if p.wire, err = (proto.MarshalOptions{Deterministic: true}).Marshal(p.answer); err != nil {
			return nil, err
		}
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	return p.(*preparedAnswer), nil
}
