// Package client is what Go workflows call: the integrations SDK in Go, over the
// service's gRPC API, with plain Go types instead of the generated ones.
//
// It is a module of its own, with the generated code in
// github.com/bifrost/integrations/gen, so that a workflow importing it needs
// grpc, protobuf and golang.org/x/oauth2, not the service's dependencies.
package client

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
)

// Client talks to one integrations service. It is safe for concurrent use.
type Client struct {
	conn       *grpc.ClientConn
	api        integrationsv1.IntegrationsServiceClient
	defaultOrg string
}

type options struct {
	apiKey   string
	tls      *tls.Config
	insecure bool
	org      string
	dialOpts []grpc.DialOption
}

// Option configures New.
type Option func(*options)

// WithAPIKey sends key as `authorization: Bearer <key>` on every call.
func WithAPIKey(key string) Option { return func(o *options) { o.apiKey = key } }

// WithTLS sets the TLS configuration (client certificates for mTLS, a private
// CA). Without it the client uses TLS with the system's roots.
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// WithInsecure talks plaintext, for a service on loopback in development. The
// API key then travels unencrypted.
func WithInsecure() Option { return func(o *options) { o.insecure = true } }

// WithOrg sets the organization calls are about when they name none; without
// it, the organization the API key is bound to.
func WithOrg(orgID string) Option { return func(o *options) { o.org = orgID } }

// WithDialOptions adds gRPC dial options (interceptors, a custom dialer).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOpts = append(o.dialOpts, opts...) }
}

// serviceConfig balances calls over every address round robin and, when a
// replica is UNAVAILABLE, retries the methods the proto declares safe to
// retry: idempotency_level NO_SIDE_EFFECTS or IDEMPOTENT. The list is read
// from the service's descriptor, the one place the policy is declared.
func serviceConfig() string {
	type methodName struct {
		Service string `json:"service"`
		Method  string `json:"method"`
	}
	svc := integrationsv1.File_bifrost_integrations_v1_integrations_proto.Services().ByName("IntegrationsService")
	var retryable []methodName
	for i := range svc.Methods().Len() {
		m := svc.Methods().Get(i)
		opts, _ := m.Options().(*descriptorpb.MethodOptions)
		switch opts.GetIdempotencyLevel() {
		case descriptorpb.MethodOptions_NO_SIDE_EFFECTS, descriptorpb.MethodOptions_IDEMPOTENT:
			retryable = append(retryable, methodName{Service: string(svc.FullName()), Method: string(m.Name())})
		}
	}
	config := map[string]any{
		"loadBalancingConfig": []any{map[string]any{"round_robin": map[string]any{}}},
		"methodConfig": []any{map[string]any{
			"name": retryable,
			"retryPolicy": map[string]any{
				"maxAttempts":          4,
				"initialBackoff":       "0.05s",
				"maxBackoff":           "1s",
				"backoffMultiplier":    2,
				"retryableStatusCodes": []string{"UNAVAILABLE"},
			},
		}},
	}
	out, err := json.Marshal(config)
	if err != nil {
		panic(fmt.Sprintf("encoding the service config: %v", err)) // only maps, strings and numbers: cannot fail
	}
	return string(out)
}

// New connects lazily to addr: any gRPC target (host:port, or dns:///name:port
// for every address a name resolves to), or several host:port separated by
// commas. Calls are balanced round robin over the addresses.
func New(addr string, opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	target := addr
	var resolvers []grpc.DialOption
	if strings.Contains(addr, ",") {
		r := manual.NewBuilderWithScheme("bifrost-replicas")
		var state resolver.State
		for _, a := range strings.Split(addr, ",") {
			state.Addresses = append(state.Addresses, resolver.Address{Addr: strings.TrimSpace(a)})
		}
		r.InitialState(state)
		target, resolvers = r.Scheme()+":///replicas", []grpc.DialOption{grpc.WithResolvers(r)}
	}
	transport := credentials.NewTLS(o.tls)
	if o.insecure {
		transport = insecure.NewCredentials()
	}
	dialOpts := append([]grpc.DialOption{grpc.WithTransportCredentials(transport), grpc.WithDefaultServiceConfig(serviceConfig())}, resolvers...)
	dialOpts = append(dialOpts, o.dialOpts...)
	if o.apiKey != "" {
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(bearer{key: o.apiKey, requireTLS: !o.insecure}))
	}
	conn, err := grpc.NewClient(target, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("integrations client: %w", err)
	}
	return &Client{conn: conn, api: integrationsv1.NewIntegrationsServiceClient(conn), defaultOrg: o.org}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

type bearer struct {
	key        string
	requireTLS bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.key}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.requireTLS }

type callOptions struct {
	org          string
	global       bool
	entityID     string
	forceRefresh bool
	minValidity  time.Duration
}

// CallOption refines one call.
type CallOption func(*callOptions)

// ForOrg names the organization of the call, overriding WithOrg.
func ForOrg(orgID string) CallOption { return func(o *callOptions) { o.org = orgID } }

// Global asks Get for the platform-level defaults, whatever the organization.
func Global() CallOption { return func(o *callOptions) { o.global = true } }

// ForEntity makes GetMapping look for the mapping to this external entity.
func ForEntity(entityID string) CallOption { return func(o *callOptions) { o.entityID = entityID } }

// ForceRefresh makes Get refresh the OAuth token even if it is still fresh.
func ForceRefresh() CallOption { return func(o *callOptions) { o.forceRefresh = true } }

// MinValidity makes Get return a token valid for at least d.
func MinValidity(d time.Duration) CallOption { return func(o *callOptions) { o.minValidity = d } }

func (c *Client) callOptions(opts []CallOption) callOptions {
	o := callOptions{org: c.defaultOrg}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Get returns the integration as the organization sees it, or nil, nil when no
// integration has that name.
func (c *Client) Get(ctx context.Context, name string, opts ...CallOption) (*IntegrationData, error) {
	o := c.callOptions(opts)
	req := &integrationsv1.GetIntegrationRequest{Name: name, OrgId: o.org, ForceRefresh: o.forceRefresh}
	if o.global {
		req.Scope = "global"
	}
	if o.minValidity > 0 {
		req.MinValidity = durationpb.New(o.minValidity)
	}
	resp, err := c.api.GetIntegration(ctx, req)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return integrationData(resp.GetIntegration()), nil
}

// ListMappings returns every mapping of the integration the key may see, all
// pages read, ordered by organization.
func (c *Client) ListMappings(ctx context.Context, name string) ([]IntegrationMapping, error) {
	var out []IntegrationMapping
	token := ""
	for {
		resp, err := c.api.ListMappings(ctx, &integrationsv1.ListMappingsRequest{Name: name, PageToken: token})
		if err != nil {
			return nil, err
		}
		for _, m := range resp.GetMappings() {
			out = append(out, *mapping(m))
		}
		if token = resp.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
}

// GetMapping returns the organization's mapping (ForOrg, WithOrg or the key's
// organization; ForEntity to find it by external entity), or nil, nil if there
// is none.
func (c *Client) GetMapping(ctx context.Context, name string, opts ...CallOption) (*IntegrationMapping, error) {
	o := c.callOptions(opts)
	resp, err := c.api.GetMapping(ctx, &integrationsv1.GetMappingRequest{Name: name, OrgId: o.org, EntityId: o.entityID})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return mapping(resp.GetMapping()), nil
}

// Upsert is the input of UpsertMapping. Empty fields keep their stored value.
type Upsert struct {
	OrgID      string
	EntityID   string
	EntityName string
	// Config patches the organization's overrides: keys given are set, keys set
	// to nil are removed, others stay.
	Config       map[string]any
	OAuthTokenID string
}

// UpsertMapping creates or updates the organization's mapping.
func (c *Client) UpsertMapping(ctx context.Context, name string, u Upsert) (*IntegrationMapping, error) {
	cfg, err := structpb.NewStruct(u.Config)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	org := u.OrgID
	if org == "" {
		org = c.defaultOrg
	}
	resp, err := c.api.UpsertMapping(ctx, &integrationsv1.UpsertMappingRequest{
		Name: name, OrgId: org, EntityId: u.EntityID, EntityName: u.EntityName, Config: cfg, OauthTokenId: u.OAuthTokenID,
	})
	if err != nil {
		return nil, err
	}
	return mapping(resp.GetMapping()), nil
}

// DeleteMapping deletes the organization's mapping; false if there was none.
func (c *Client) DeleteMapping(ctx context.Context, name, orgID string) (bool, error) {
	if orgID == "" {
		orgID = c.defaultOrg
	}
	resp, err := c.api.DeleteMapping(ctx, &integrationsv1.DeleteMappingRequest{Name: name, OrgId: orgID})
	if err != nil {
		return false, err
	}
	return resp.GetDeleted(), nil
}

func isNotFound(err error) bool {
	var st interface{ GRPCStatus() *status.Status }
	return errors.As(err, &st) && st.GRPCStatus().Code() == codes.NotFound
}
