package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/testdb"
	"github.com/bifrost/integrations/keyring"
)

// The master key rotates on three replicas under read load: a new master key
// in the key ring file, SIGHUP on two replicas (the third learns of it when
// it meets a data key wrapped by the new key), every data key re-wrapped, the
// old master key removed from the file, and a replica restarted with only
// the new one. No read fails.
func TestMasterKeyRotatesAcrossReplicasUnderReadLoad(t *testing.T) {
	t.Parallel()
	db, base := testdb.Database(t), t.TempDir()
	ringPath := filepath.Join(base, "keyring.json")
	if _, err := keyring.CreateFile(ringPath); err != nil {
		t.Fatal(err)
	}
	start := func(name string) *daemon {
		d, _ := runDaemon(t, noEnv, filepath.Join(base, name), "--db", db, "--keyring", ringPath)
		return d
	}
	replicas := []*daemon{start("r1"), start("r2"), start("r3")}
	key, err := os.ReadFile(filepath.Join(base, "r1", "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+strings.TrimSpace(string(key)))
	client := func(d *daemon) *grpc.ClientConn {
		conn, err := grpc.NewClient(d.grpcListener.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	admin := adminv1.NewAdminServiceClient(client(replicas[0]))
	if _, err := admin.CreateConnection(ctx, &adminv1.CreateConnectionRequest{Connection: &adminv1.Connection{
		Name: "graph", Flow: adminv1.Flow_FLOW_AUTHORIZATION_CODE, ClientId: "c", ClientSecret: "client-secret",
		AuthorizationUrl: "https://login.example/authorize", TokenUrl: "https://login.example/token",
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateIntegration(ctx, &adminv1.CreateIntegrationRequest{Integration: &adminv1.Integration{Name: "Graph", OauthConnection: "graph"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutToken(ctx, &adminv1.PutTokenRequest{Connection: "graph", OrgId: "org-a", AccessToken: "access-a", RefreshToken: "refresh-a",
		ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}

	var reads, failed atomic.Int64
	var lastErr atomic.Value
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	read := func(d *daemon) error {
		resp, err := integrationsv1.NewIntegrationsServiceClient(client(d)).GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
		if err == nil && resp.GetIntegration().GetOauth().GetAccessToken() != "access-a" {
			err = fmt.Errorf("read %q", resp.GetIntegration().GetOauth().GetAccessToken())
		}
		return err
	}
	for _, d := range replicas {
		api := integrationsv1.NewIntegrationsServiceClient(client(d))
		wg.Go(func() {
			for loadCtx.Err() == nil {
				resp, err := api.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-a"})
				reads.Add(1)
				if err != nil || resp.GetIntegration().GetOauth().GetAccessToken() != "access-a" {
					failed.Add(1)
					lastErr.Store(fmt.Sprint(err))
				}
			}
		})
	}

	masterOf := func() map[uint32]uint32 {
		st, err := admin.GetEncryptionStatus(ctx, &adminv1.GetEncryptionStatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[uint32]uint32{}
		for _, k := range st.GetKeys() {
			out[k.GetId()] = k.GetMasterKeyId()
		}
		return out
	}
	if got := masterOf(); len(got) != 1 || got[1] != 1 {
		t.Fatalf("before: data keys wrapped by %v, want data key 1 by master key 1", got)
	}
	// A data key rotation too, so that more than one data key is re-wrapped.
	if _, err := admin.RotateEncryptionKey(ctx, &adminv1.RotateEncryptionKeyRequest{}); err != nil {
		t.Fatal(err)
	}
	newID, err := keyring.AddFileKey(ringPath)
	if err != nil || newID != 2 {
		t.Fatalf("AddFileKey = %d, %v", newID, err)
	}
	for _, d := range replicas[:2] {
		d.keyringChanged(ctx) // SIGHUP
	}
	if got := masterOf(); len(got) != 2 || got[1] != 2 || got[2] != 2 {
		t.Fatalf("after SIGHUP: data keys wrapped by %v, want every one by master key 2", got)
	}
	// The replica that got no SIGHUP rereads the file on its next data key
	// reload, which meets master key 2.
	if err := replicas[2].keys.Reload(ctx); err != nil || replicas[2].master.CurrentKeyID() != 2 {
		t.Fatalf("replica 3 after its reload: %v, current master key %d", err, replicas[2].master.CurrentKeyID())
	}

	if err := keyring.RemoveFileKey(ringPath, 1); err != nil {
		t.Fatal(err)
	}
	for _, d := range replicas {
		d.keyringChanged(ctx)
	}
	stopLoad()
	wg.Wait()
	if failed.Load() != 0 || reads.Load() == 0 {
		t.Fatalf("%d of %d reads failed during the rotation (last: %v)", failed.Load(), reads.Load(), lastErr.Load())
	}
	// A replica starting now has master key 2 alone, and serves.
	if err := read(start("r4")); err != nil {
		t.Fatalf("a replica started after the old master key was removed: %v", err)
	}
}

// `integrationsd keyring` shows, adds and retires master keys in the file,
// never the current one.
func TestKeyringCommandShowsAddsAndRetiresMasterKeys(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keyring.json")
	if _, err := keyring.CreateFile(path); err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) {
		return map[string]string{"BIFROST_KEYRING": path}[k], k == "BIFROST_KEYRING"
	}
	run := func(args ...string) (string, error) {
		var out strings.Builder
		err := runKeyring(args, env, &out, &out)
		return out.String(), err
	}
	for _, step := range []struct {
		args []string
		want string
		fail bool
	}{
		{[]string{"show"}, "master keys [1]", false},
		{[]string{"add"}, "added master key 2", false},
		{[]string{"retire", "2"}, "current", true},
		{[]string{"retire", "1", "--keyring", path}, "removed master key 1", false},
		{[]string{"show"}, "master keys [2]", false},
		{[]string{"retire"}, "retire needs the master key ID", true},
		{[]string{"rotate"}, "unknown keyring command", true},
	} {
		out, err := run(step.args...)
		if (err != nil) != step.fail || !strings.Contains(out+fmt.Sprint(err), step.want) {
			t.Fatalf("keyring %v: %q, %v; want %q (error: %v)", step.args, out, err, step.want, step.fail)
		}
	}
}
