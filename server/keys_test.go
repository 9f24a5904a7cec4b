package server_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/bifrost/integrations/datakeys"
	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/internal/testutil"
	"github.com/bifrost/integrations/keyring"
	"github.com/bifrost/integrations/store"
)

func TestKeyRotationUnderReadLoadFailsNoRead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	api := f.env.Integrations(t, f.env.AdminKey)
	if _, err := api.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: "org-a", Config: mustStruct(t, map[string]any{"api_key": orgAAPIKey})}); err != nil {
		t.Fatal(err)
	}
	var reads, failures atomic.Int64
	var firstFailure sync.Once
	var failure string
	fail := func(what string) {
		failures.Add(1)
		firstFailure.Do(func() { failure = what })
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := api.GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: "org-a"})
				reads.Add(1)
				if err != nil || resp.GetIntegration().GetConfig().AsMap()["api_key"] != orgAAPIKey ||
					resp.GetIntegration().GetOauth().GetAccessToken() != orgAAccess || resp.GetIntegration().GetOauth().GetClientSecret() != clientSecret {
					fail(fmt.Sprintf("a read: %v", err))
				}
			}
		})
	}
	// Writes go on too: each seals under whichever key is current.
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := api.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{Name: "Microsoft_Graph", OrgId: "org-w", Config: mustStruct(t, map[string]any{"api_key": "w"})}); err != nil {
				fail(fmt.Sprintf("a write: %v", err))
			}
		}
	})
	// Reads must be going on before the rotation and after the retirement: wait
	// for them by count, not by time, which a loaded machine stretches.
	readsPast := func(n int64) {
		t.Helper()
		testutil.Eventually(t, 10*time.Second, func() error {
			if got := reads.Load(); got < n {
				return fmt.Errorf("only %d of %d reads", got, n)
			}
			return nil
		})
	}
	readsPast(25)
	rotated, err := f.admin.RotateEncryptionKey(ctx, &adminv1.RotateEncryptionKeyRequest{})
	if err != nil || rotated.GetKeyId() != 2 {
		t.Fatalf("rotate: %v, %v", rotated, err)
	}
	before, err := f.admin.GetEncryptionStatus(ctx, &adminv1.GetEncryptionStatusRequest{})
	if err != nil || before.GetPending() == 0 {
		t.Fatalf("status right after rotation: %v, %v; want values pending", before, err)
	}
	_, err = f.admin.RetireEncryptionKey(ctx, &adminv1.RetireEncryptionKeyRequest{KeyId: 1})
	wantCode(t, err, codes.FailedPrecondition) // key 1 still seals values
	for pending := before.GetPending(); pending > 0; {
		if _, err := f.env.Keys.ReencryptAll(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := f.admin.GetEncryptionStatus(ctx, &adminv1.GetEncryptionStatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		pending = st.GetPending()
	}
	if _, err := f.admin.RetireEncryptionKey(ctx, &adminv1.RetireEncryptionKeyRequest{KeyId: 1}); err != nil {
		t.Fatalf("retiring key 1 once nothing uses it: %v", err)
	}
	_, err = f.admin.RetireEncryptionKey(ctx, &adminv1.RetireEncryptionKeyRequest{KeyId: 2})
	wantCode(t, err, codes.FailedPrecondition) // the current key cannot be retired
	readsPast(reads.Load() + 25)
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d reads (and writes) failed; the first, %s", failures.Load(), reads.Load(), failure)
	}
	after, err := f.admin.GetEncryptionStatus(ctx, &adminv1.GetEncryptionStatusRequest{})
	if err != nil || len(after.GetKeys()) != 1 || after.GetKeys()[0].GetId() != 2 || after.GetKeys()[0].GetCiphertexts() == 0 {
		t.Fatalf("status after retiring: %v, %v", after, err)
	}
}

// A second replica (its own store and data key manager on the same database)
// opens values sealed under a key another replica rotated to, without restart.
func TestRotationOnOneReplicaReachesAnother(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ring := keyring.NewRotating()
	other, err := store.Open(ctx, f.env.Path, ring)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := datakeys.New(ctx, other, f.env.Master, ring, datakeys.Options{ReloadInterval: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.RotateEncryptionKey(ctx, &adminv1.RotateEncryptionKeyRequest{}); err != nil {
		t.Fatal(err)
	}
	f.putToken(t, "org-new", "sealed-under-key-2", "")
	r, err := other.Resolve(ctx, "Microsoft_Graph", "org-new")
	if err != nil || r.Token.AccessToken != "sealed-under-key-2" {
		t.Fatalf("the other replica read %v, %v", r.Token, err)
	}
	st, err := f.admin.GetEncryptionStatus(ctx, &adminv1.GetEncryptionStatusRequest{})
	if err != nil || st.GetKeys()[len(st.GetKeys())-1].GetId() != 2 || st.GetKeys()[len(st.GetKeys())-1].GetCiphertexts() == 0 {
		t.Fatalf("nothing sealed under key 2: %v, %v", st, err)
	}
}

// After a rotation through the admin API, the background job a replica runs
// reloads the keys and re-encrypts every old value to the new one by itself.
func TestBackgroundJobReencryptsOldValuesAfterARotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	hook, err := f.admin.CreateWebhook(ctx, &adminv1.CreateWebhookRequest{Url: "https://hooks.example/bifrost"})
	if err != nil {
		t.Fatal(err)
	}
	before, err := f.admin.GetEncryptionStatus(ctx, &adminv1.GetEncryptionStatusRequest{})
	if err != nil || before.GetPending() != 0 || before.GetKeys()[0].GetCiphertexts() == 0 {
		t.Fatalf("status before rotating: %v, %v", before, err)
	}
	job, err := datakeys.New(ctx, f.env.Store, f.env.Master, keyring.NewRotating(), datakeys.Options{ReloadInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	running, stop := context.WithCancel(ctx)
	defer stop()
	go job.Run(running)
	if _, err := f.admin.RotateEncryptionKey(ctx, &adminv1.RotateEncryptionKeyRequest{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		st, err := f.admin.GetEncryptionStatus(ctx, &adminv1.GetEncryptionStatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		keys := st.GetKeys()
		if st.GetPending() == 0 && len(keys) == 2 && keys[0].GetCiphertexts() == 0 && keys[1].GetCiphertexts() == before.GetKeys()[0].GetCiphertexts() {
			return nil
		}
		return fmt.Errorf("old values were not re-encrypted in the background: %v", st)
	})
	resp, err := f.env.Integrations(t, f.env.AdminKey).GetIntegration(ctx, &integrationsv1.GetIntegrationRequest{Name: "Microsoft_Graph", OrgId: "org-a"})
	if err != nil || resp.GetIntegration().GetOauth().GetClientSecret() != clientSecret {
		t.Fatalf("read after re-encryption: %v", err)
	}
	// Every sealed column was re-encrypted, the webhook secrets too: the old
	// key retires and each secret still opens.
	if _, err := f.admin.RetireEncryptionKey(ctx, &adminv1.RetireEncryptionKeyRequest{KeyId: before.GetKeys()[0].GetId()}); err != nil {
		t.Fatal(err)
	}
	hooks, err := f.env.Store.WebhooksWithSecrets(ctx)
	if err != nil || len(hooks) != 1 || hooks[0].Secret != hook.GetSecret() {
		t.Fatalf("webhook secret after the old key retired: %v, %v", hooks, err)
	}
}
