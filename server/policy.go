package server

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/bifrost/integrations/auth"
	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	policyv1 "github.com/bifrost/integrations/gen/bifrost/integrations/policy/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
)

// methodPolicy is what proto/bifrost/integrations/policy/v1 declares of one
// RPC, read from the service descriptors: the one place that says who may call
// a method, whether it writes and whether it can hand out secrets.
type methodPolicy struct {
	caller         policyv1.Caller
	writes         bool
	returnsSecrets bool
}

// policies holds the policy of every method of the services, by full method
// name ("/package.Service/Method").
type policies map[string]methodPolicy

// servedServices are the services this package serves, whose every method must
// declare a policy.
func servedServices() []protoreflect.ServiceDescriptor {
	return []protoreflect.ServiceDescriptor{
		integrationsv1.File_bifrost_integrations_v1_integrations_proto.Services().ByName("IntegrationsService"),
		adminv1.File_bifrost_integrations_admin_v1_admin_proto.Services().ByName("AdminService"),
	}
}

// loadPolicies reads the policy of every method of services, and fails for a
// method that declares none: an RPC nobody classified is a hole, not a default.
func loadPolicies(services ...protoreflect.ServiceDescriptor) (policies, error) {
	out := policies{}
	for _, svc := range services {
		methods := svc.Methods()
		for i := range methods.Len() {
			m := methods.Get(i)
			opts, _ := m.Options().(*descriptorpb.MethodOptions)
			declared, _ := proto.GetExtension(opts, policyv1.E_Policy).(*policyv1.MethodPolicy)
			if declared == nil || declared.GetCaller() == policyv1.Caller_CALLER_UNSPECIFIED {
				return nil, fmt.Errorf("method %s declares no caller in its (bifrost.integrations.policy.v1.policy) option", m.FullName())
			}
			out[fmt.Sprintf("/%s/%s", svc.FullName(), m.Name())] = methodPolicy{
				caller:         declared.GetCaller(),
				writes:         opts.GetIdempotencyLevel() != descriptorpb.MethodOptions_NO_SIDE_EFFECTS,
				returnsSecrets: declared.GetReturnsSecrets(),
			}
		}
	}
	return out, nil
}

// permits refuses a caller the policy does not admit. The zero Principal (a
// handler reached without authentication) and unknown roles are refused.
func (p methodPolicy) permits(c auth.Principal) error {
	switch {
	case !c.Known():
		return permissionDenied("no known caller")
	case p.caller == policyv1.Caller_CALLER_ADMIN && !c.IsAdmin():
		return permissionDenied("api key %q is not an admin key", c.KeyID)
	case p.caller == policyv1.Caller_CALLER_ANY_KEY, p.caller == policyv1.Caller_CALLER_ADMIN:
		return nil
	}
	return permissionDenied("method policy %s admits nobody", p.caller)
}

// guarded returns desc with every method wrapped in its policy check, run
// innermost, just before the handler: a server built without the
// authentication interceptor still refuses every call, because the check
// travels with the service, not with the server's options.
func (ps policies) guarded(desc *grpc.ServiceDesc) *grpc.ServiceDesc {
	out := *desc
	out.Methods = make([]grpc.MethodDesc, len(desc.Methods))
	for i, m := range desc.Methods {
		policy, handler := ps["/"+desc.ServiceName+"/"+m.MethodName], m.Handler
		enforce := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
			if err := policy.permits(caller(ctx)); err != nil {
				return nil, err
			}
			return next(ctx, req)
		}
		out.Methods[i] = grpc.MethodDesc{MethodName: m.MethodName, Handler: func(srv any, ctx context.Context, dec func(any) error, chain grpc.UnaryServerInterceptor) (any, error) {
			return handler(srv, ctx, dec, innermost(chain, enforce))
		}}
	}
	out.Streams = make([]grpc.StreamDesc, len(desc.Streams))
	for i, st := range desc.Streams {
		policy, handler := ps["/"+desc.ServiceName+"/"+st.StreamName], st.Handler
		st.Handler = func(srv any, stream grpc.ServerStream) error {
			if err := policy.permits(caller(stream.Context())); err != nil {
				return err
			}
			return handler(srv, stream)
		}
		out.Streams[i] = st
	}
	return &out
}

// innermost runs last after chain (the server's interceptors, nil for none).
func innermost(chain, last grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	if chain == nil {
		return last
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return chain(ctx, req, info, func(ctx context.Context, req any) (any, error) {
			return last(ctx, req, info, handler)
		})
	}
}
