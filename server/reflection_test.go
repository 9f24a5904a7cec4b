package server_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
)

// grpcurl and clients in other languages discover the API through reflection,
// without a key; the stream is logged like any call.
func TestReflectionDescribesTheAPIWithoutAKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	stream, err := reflectionpb.NewServerReflectionClient(f.env.Conn(t, "")).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ask := func(req *reflectionpb.ServerReflectionRequest) *reflectionpb.ServerReflectionResponse {
		t.Helper()
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if e := resp.GetErrorResponse(); e != nil {
			t.Fatalf("reflection error: %v", e)
		}
		return resp
	}
	var services []string
	for _, s := range ask(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}).GetListServicesResponse().GetService() {
		services = append(services, s.GetName())
	}
	for _, want := range []string{integrationsv1.IntegrationsService_ServiceDesc.ServiceName, adminv1.AdminService_ServiceDesc.ServiceName, "grpc.health.v1.Health"} {
		if !slices.Contains(services, want) {
			t.Errorf("reflection lists %v, without %s", services, want)
		}
	}
	files := ask(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{
		FileContainingSymbol: "bifrost.integrations.v1.IntegrationsService.GetIntegration"}}).GetFileDescriptorResponse().GetFileDescriptorProto()
	if len(files) == 0 {
		t.Error("no file descriptor for GetIntegration")
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("end of the stream: %v", err)
	}
	if logs := f.env.Logs.String(); !strings.Contains(logs, `"grpc.service":"grpc.reflection.v1.ServerReflection"`) {
		t.Errorf("the reflection stream was not logged:\n%s", logs)
	}
}
