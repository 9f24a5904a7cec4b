package server

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/bifrost/integrations/auth"
	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	policyv1 "github.com/bifrost/integrations/gen/bifrost/integrations/policy/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/store"
)

func TestEveryServedMethodHasAPolicyReadFromItsDescriptor(t *testing.T) {
	t.Parallel()
	ps, err := loadPolicies(servedServices()...)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, desc := range []grpc.ServiceDesc{integrationsv1.IntegrationsService_ServiceDesc, adminv1.AdminService_ServiceDesc} {
		names := []string{}
		for _, m := range desc.Methods {
			names = append(names, m.MethodName)
		}
		for _, st := range desc.Streams {
			names = append(names, st.StreamName)
		}
		for _, name := range names {
			n++
			if _, ok := ps["/"+desc.ServiceName+"/"+name]; !ok {
				t.Errorf("no policy for %s/%s", desc.ServiceName, name)
			}
		}
	}
	if len(ps) != n {
		t.Fatalf("%d policies for %d methods", len(ps), n)
	}
	for method, want := range map[string]methodPolicy{
		"/bifrost.integrations.v1.IntegrationsService/GetIntegration":    {caller: policyv1.Caller_CALLER_ANY_KEY, returnsSecrets: true},
		"/bifrost.integrations.v1.IntegrationsService/UpsertMapping":     {caller: policyv1.Caller_CALLER_ANY_KEY, writes: true, returnsSecrets: true},
		"/bifrost.integrations.v1.IntegrationsService/DeleteMapping":     {caller: policyv1.Caller_CALLER_ANY_KEY, writes: true},
		"/bifrost.integrations.admin.v1.AdminService/ListTokens":         {caller: policyv1.Caller_CALLER_ADMIN},
		"/bifrost.integrations.admin.v1.AdminService/CreateApiKey":       {caller: policyv1.Caller_CALLER_ADMIN, writes: true, returnsSecrets: true},
		"/bifrost.integrations.admin.v1.AdminService/StartAuthorization": {caller: policyv1.Caller_CALLER_ADMIN, writes: true},
	} {
		if got := ps[method]; got != want {
			t.Errorf("%s: policy %+v, want %+v", method, got, want)
		}
	}
}

// A method that declares no policy, or no caller, keeps the server from
// starting.
func TestAMethodWithoutADeclaredCallerIsRefused(t *testing.T) {
	t.Parallel()
	withPolicy := func(p *policyv1.MethodPolicy) *descriptorpb.MethodOptions {
		opts := &descriptorpb.MethodOptions{}
		if p != nil {
			proto.SetExtension(opts, policyv1.E_Policy, p)
		}
		return opts
	}
	cases := []struct {
		name string
		opts *descriptorpb.MethodOptions
		ok   bool
	}{
		{"no options", nil, false},
		{"no policy", withPolicy(nil), false},
		{"unspecified caller", withPolicy(&policyv1.MethodPolicy{ReturnsSecrets: true}), false},
		{"admin caller", withPolicy(&policyv1.MethodPolicy{Caller: policyv1.Caller_CALLER_ADMIN}), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
				Name:        proto.String("test/undeclared.proto"),
				Package:     proto.String("test.v1"),
				Syntax:      proto.String("proto3"),
				MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Empty")}},
				Service: []*descriptorpb.ServiceDescriptorProto{{
					Name: proto.String("Undeclared"),
					Method: []*descriptorpb.MethodDescriptorProto{{
						Name: proto.String("Do"), InputType: proto.String(".test.v1.Empty"), OutputType: proto.String(".test.v1.Empty"), Options: tc.opts,
					}},
				}},
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = loadPolicies(file.Services().Get(0))
			if (err == nil) != tc.ok {
				t.Fatalf("loadPolicies: %v; want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestPoliciesAdmitOnlyKnownCallersOfTheirKind(t *testing.T) {
	t.Parallel()
	admin := auth.Principal{KeyID: "a", Role: store.RoleAdmin}
	worker := auth.Principal{KeyID: "w", Role: store.RoleWorker, OrgID: "org-a"}
	all := auth.Principal{KeyID: "x", Role: store.RoleWorkerAllOrgs}
	cases := []struct {
		name   string
		policy policyv1.Caller
		caller auth.Principal
		ok     bool
	}{
		{"admin method, admin", policyv1.Caller_CALLER_ADMIN, admin, true},
		{"admin method, worker", policyv1.Caller_CALLER_ADMIN, worker, false},
		{"admin method, all-orgs worker", policyv1.Caller_CALLER_ADMIN, all, false},
		{"any key, worker", policyv1.Caller_CALLER_ANY_KEY, worker, true},
		{"any key, all-orgs worker", policyv1.Caller_CALLER_ANY_KEY, all, true},
		{"any key, no caller", policyv1.Caller_CALLER_ANY_KEY, auth.Principal{}, false},
		{"any key, unknown role", policyv1.Caller_CALLER_ANY_KEY, auth.Principal{KeyID: "u", Role: "root"}, false},
		{"any key, worker bound to no org", policyv1.Caller_CALLER_ANY_KEY, auth.Principal{KeyID: "w", Role: store.RoleWorker}, false},
		{"unspecified, admin", policyv1.Caller_CALLER_UNSPECIFIED, admin, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := (methodPolicy{caller: tc.policy}).permits(tc.caller); (err == nil) != tc.ok {
				t.Fatalf("permits = %v; want ok=%v", err, tc.ok)
			}
		})
	}
}
