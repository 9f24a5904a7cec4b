package server

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bifrost/integrations/auth"
	"github.com/bifrost/integrations/authcode"
	"github.com/bifrost/integrations/config"
	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	"github.com/bifrost/integrations/oauth"
	"github.com/bifrost/integrations/oauth/schedule"
	"github.com/bifrost/integrations/store"
)

// maxTokenLen bounds tokens put by hand; real JWTs stay well below.
const maxTokenLen = 16 << 10

// maxRefreshMargin keeps a mistyped margin from refreshing tokens constantly.
const maxRefreshMargin = 24 * time.Hour

type adminService struct {
	adminv1.UnimplementedAdminServiceServer
	s *Server
}

// Integrations

var configTypes = map[adminv1.ConfigType]config.Type{
	adminv1.ConfigType_CONFIG_TYPE_STRING: config.String,
	adminv1.ConfigType_CONFIG_TYPE_INT:    config.Int,
	adminv1.ConfigType_CONFIG_TYPE_BOOL:   config.Bool,
	adminv1.ConfigType_CONFIG_TYPE_JSON:   config.JSON,
	adminv1.ConfigType_CONFIG_TYPE_SECRET: config.Secret,
}

func (v *violations) schema(field string, fields []*adminv1.ConfigField) config.Schema {
	schema := make(config.Schema, 0, len(fields))
	for i, f := range fields {
		t, ok := configTypes[f.GetType()]
		if !ok {
			v.add(fmt.Sprintf("%s[%d].type", field, i), "must be one of STRING, INT, BOOL, JSON, SECRET")
		}
		v.text(fmt.Sprintf("%s[%d].description", field, i), f.GetDescription(), maxTextLen)
		schema = append(schema, config.Field{Key: f.GetKey(), Type: t, Required: f.GetRequired(), Description: f.GetDescription()})
	}
	if err := schema.Validate(); err != nil {
		v.add(field, err.Error())
	}
	return schema
}

func (h *adminService) CreateIntegration(ctx context.Context, req *adminv1.CreateIntegrationRequest) (*adminv1.CreateIntegrationResponse, error) {
	in := req.GetIntegration()
	var v violations
	if in == nil {
		v.add("integration", "is required")
		return nil, v.err()
	}
	v.name("integration.name", in.GetName())
	v.text("integration.description", in.GetDescription(), maxTextLen)
	v.entityID("integration.default_entity_id", in.GetDefaultEntityId())
	v.optionalName("integration.oauth_connection", in.GetOauthConnection())
	v.config("integration.default_config", in.GetDefaultConfig())
	schema := v.schema("integration.config_schema", in.GetConfigSchema())
	if err := v.err(); err != nil {
		return nil, err
	}
	created, err := h.s.store.CreateIntegration(ctx, store.Integration{
		Name:                in.GetName(),
		Description:         in.GetDescription(),
		DefaultEntityID:     in.GetDefaultEntityId(),
		WorkersBindEntities: in.GetWorkersBindEntities(),
		ConnectionName:      in.GetOauthConnection(),
		Schema:              schema,
		Defaults:            in.GetDefaultConfig().AsMap(),
	})
	if err != nil {
		return nil, inField("integration.default_config", err)
	}
	out, err := integrationProto(created)
	return &adminv1.CreateIntegrationResponse{Integration: out}, err
}

func (h *adminService) GetIntegration(ctx context.Context, req *adminv1.GetIntegrationRequest) (*adminv1.GetIntegrationResponse, error) {
	var v violations
	v.name("name", req.GetName())
	if err := v.err(); err != nil {
		return nil, err
	}
	in, err := h.s.store.GetIntegration(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	out, err := integrationProto(in)
	return &adminv1.GetIntegrationResponse{Integration: out}, err
}

func (h *adminService) ListIntegrations(ctx context.Context, req *adminv1.ListIntegrationsRequest) (*adminv1.ListIntegrationsResponse, error) {
	var v violations
	page := v.page(req.GetPageSize(), req.GetPageToken())
	if err := v.err(); err != nil {
		return nil, err
	}
	list, err := h.s.store.ListIntegrations(ctx, page)
	if err != nil {
		return nil, err
	}
	items, next, err := pageOf(page, list, func(in store.Integration) string { return in.Name }, integrationProto)
	return &adminv1.ListIntegrationsResponse{Integrations: items, NextPageToken: next}, err
}

func (h *adminService) UpdateIntegration(ctx context.Context, req *adminv1.UpdateIntegrationRequest) (*adminv1.UpdateIntegrationResponse, error) {
	in := req.GetIntegration()
	var v violations
	v.name("integration.name", in.GetName())
	paths := v.mask(req.GetUpdateMask(), "description", "config_schema", "default_config", "default_entity_id", "workers_bind_entities", "oauth_connection")
	var u store.IntegrationUpdate
	for _, p := range paths {
		switch p {
		case "description":
			v.text("integration.description", in.GetDescription(), maxTextLen)
			u.Description = ptr(in.GetDescription())
		case "default_entity_id":
			v.entityID("integration.default_entity_id", in.GetDefaultEntityId())
			u.DefaultEntityID = ptr(in.GetDefaultEntityId())
		case "workers_bind_entities":
			u.WorkersBindEntities = ptr(in.GetWorkersBindEntities())
		case "oauth_connection":
			v.optionalName("integration.oauth_connection", in.GetOauthConnection())
			u.ConnectionName = ptr(in.GetOauthConnection())
		case "config_schema":
			u.Schema = ptr(v.schema("integration.config_schema", in.GetConfigSchema()))
		case "default_config":
			v.config("integration.default_config", in.GetDefaultConfig())
			u.DefaultsPatch = in.GetDefaultConfig().AsMap()
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	updated, err := h.s.store.UpdateIntegration(ctx, in.GetName(), u)
	if err != nil {
		return nil, inField("integration.default_config", err)
	}
	out, err := integrationProto(updated)
	return &adminv1.UpdateIntegrationResponse{Integration: out}, err
}

func (h *adminService) DeleteIntegration(ctx context.Context, req *adminv1.DeleteIntegrationRequest) (*adminv1.DeleteIntegrationResponse, error) {
	var v violations
	v.name("name", req.GetName())
	if err := v.err(); err != nil {
		return nil, err
	}
	return &adminv1.DeleteIntegrationResponse{}, h.s.store.DeleteIntegration(ctx, req.GetName())
}

// integrationProto leaves secret default values out: the admin API takes
// secrets in and never hands them back.
func integrationProto(in store.Integration) (*adminv1.Integration, error) {
	secretKeys := in.Schema.SecretKeys(in.Defaults)
	visible := make(map[string]any, len(in.Defaults))
	for k, val := range in.Defaults {
		if !slices.Contains(secretKeys, k) {
			visible[k] = val
		}
	}
	defaults, err := structpb.NewStruct(visible)
	if err != nil {
		return nil, fmt.Errorf("encoding defaults of %q: %w", in.Name, err)
	}
	out := &adminv1.Integration{
		Id:                  in.ID,
		Name:                in.Name,
		Description:         in.Description,
		DefaultConfig:       defaults,
		DefaultEntityId:     in.DefaultEntityID,
		WorkersBindEntities: in.WorkersBindEntities,
		OauthConnection:     in.ConnectionName,
		DefaultSecretKeys:   secretKeys,
		CreateTime:          timestamppb.New(in.CreatedAt),
		UpdateTime:          timestamppb.New(in.UpdatedAt),
	}
	for _, f := range in.Schema {
		out.ConfigSchema = append(out.ConfigSchema, &adminv1.ConfigField{
			Key: f.Key, Type: keyOf(configTypes, f.Type), Required: f.Required, Description: f.Description,
		})
	}
	return out, nil
}

// Connections

var flows = map[adminv1.Flow]store.Flow{
	adminv1.Flow_FLOW_AUTHORIZATION_CODE: store.FlowAuthorizationCode,
	adminv1.Flow_FLOW_CLIENT_CREDENTIALS: store.FlowClientCredentials,
}

var tokenAuthMethods = map[adminv1.TokenAuthMethod]store.TokenAuthMethod{
	adminv1.TokenAuthMethod_TOKEN_AUTH_METHOD_CLIENT_SECRET_BASIC: store.AuthClientSecretBasic,
	adminv1.TokenAuthMethod_TOKEN_AUTH_METHOD_CLIENT_SECRET_POST:  store.AuthClientSecretPost,
}

// connectionFields copies the fields named by paths from the request into c.
func (v *violations) connectionFields(c *store.Connection, in *adminv1.Connection, paths []string) {
	for _, p := range paths {
		switch p {
		case "flow":
			c.Flow = flows[in.GetFlow()]
		case "client_id":
			c.ClientID = in.GetClientId()
		case "client_secret":
			v.text("connection.client_secret", in.GetClientSecret(), maxTextLen)
			c.ClientSecret = in.GetClientSecret()
		case "authorization_url":
			c.AuthorizationURL = in.GetAuthorizationUrl()
		case "token_url":
			c.TokenURL = in.GetTokenUrl()
		case "scopes":
			c.Scopes = in.GetScopes()
		case "audience":
			c.Audience = in.GetAudience()
		case "token_params":
			c.TokenParams = in.GetTokenParams()
		case "token_auth_method":
			c.TokenAuthMethod = store.AuthClientSecretBasic
			if m := in.GetTokenAuthMethod(); m != adminv1.TokenAuthMethod_TOKEN_AUTH_METHOD_UNSPECIFIED {
				c.TokenAuthMethod = tokenAuthMethods[m]
			}
		case "refresh_margin":
			c.RefreshMargin = schedule.DefaultMargin
			if rm := in.GetRefreshMargin(); rm != nil {
				c.RefreshMargin = rm.AsDuration()
				if rm.CheckValid() != nil || c.RefreshMargin < 0 || c.RefreshMargin > maxRefreshMargin {
					v.add("connection.refresh_margin", fmt.Sprintf("must be between 0 and %s", maxRefreshMargin))
				}
			}
		}
	}
}

// connection checks a whole connection as it would be stored.
func (v *violations) connection(c store.Connection) {
	if c.Flow == "" {
		v.add("connection.flow", "must be AUTHORIZATION_CODE or CLIENT_CREDENTIALS")
	}
	if c.TokenAuthMethod == "" {
		v.add("connection.token_auth_method", "must be CLIENT_SECRET_BASIC or CLIENT_SECRET_POST")
	}
	if c.ClientID == "" {
		v.add("connection.client_id", "is required")
	}
	v.text("connection.client_id", c.ClientID, maxTextLen)
	v.url("connection.token_url", c.TokenURL, true)
	v.url("connection.authorization_url", c.AuthorizationURL, c.Flow == store.FlowAuthorizationCode)
	for i, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			v.add(fmt.Sprintf("connection.scopes[%d]", i), "must be one non-empty scope without spaces")
		}
		v.text(fmt.Sprintf("connection.scopes[%d]", i), s, maxTextLen)
	}
	v.text("connection.audience", c.Audience, maxTextLen)
	for k, val := range c.TokenParams {
		if !paramPattern.MatchString(k) || slices.Contains(reservedParams, k) {
			v.add("connection.token_params", fmt.Sprintf("key %q must match %s and not be a standard OAuth parameter", k, paramPattern))
		}
		v.text("connection.token_params["+k+"]", val, maxTextLen)
	}
}

// url checks an absolute http(s) URL, which may hold the {entity_id} placeholder.
func (v *violations) url(field, raw string, required bool) {
	if raw == "" {
		if required {
			v.add(field, "is required")
		}
		return
	}
	u, err := url.Parse(strings.ReplaceAll(raw, "{entity_id}", "entity"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		v.add(field, "must be an absolute http or https URL without credentials")
	}
	v.text(field, raw, maxTextLen)
}

var connectionPaths = []string{"flow", "client_id", "client_secret", "authorization_url", "token_url", "scopes", "audience", "refresh_margin", "token_params", "token_auth_method"}

// paramPattern and reservedParams keep extra token parameters from overriding
// the ones the OAuth flows set themselves.
var (
	paramPattern   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	reservedParams = []string{"grant_type", "client_id", "client_secret", "refresh_token", "code", "code_verifier", "redirect_uri", "scope", "audience"}
)

func (h *adminService) CreateConnection(ctx context.Context, req *adminv1.CreateConnectionRequest) (*adminv1.CreateConnectionResponse, error) {
	in := req.GetConnection()
	var v violations
	v.name("connection.name", in.GetName())
	c := store.Connection{Name: in.GetName()}
	v.connectionFields(&c, in, connectionPaths)
	v.connection(c)
	if err := v.err(); err != nil {
		return nil, err
	}
	created, err := h.s.store.CreateConnection(ctx, c)
	if err != nil {
		return nil, err
	}
	return &adminv1.CreateConnectionResponse{Connection: connectionProto(created)}, nil
}

func (h *adminService) GetConnection(ctx context.Context, req *adminv1.GetConnectionRequest) (*adminv1.GetConnectionResponse, error) {
	var v violations
	v.name("name", req.GetName())
	if err := v.err(); err != nil {
		return nil, err
	}
	c, err := h.s.store.GetConnection(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return &adminv1.GetConnectionResponse{Connection: connectionProto(c)}, nil
}

func (h *adminService) ListConnections(ctx context.Context, req *adminv1.ListConnectionsRequest) (*adminv1.ListConnectionsResponse, error) {
	var v violations
	page := v.page(req.GetPageSize(), req.GetPageToken())
	if err := v.err(); err != nil {
		return nil, err
	}
	list, err := h.s.store.ListConnections(ctx, page)
	if err != nil {
		return nil, err
	}
	items, next, err := pageOf(page, list, func(c store.Connection) string { return c.Name }, infallible(connectionProto))
	return &adminv1.ListConnectionsResponse{Connections: items, NextPageToken: next}, err
}

func (h *adminService) UpdateConnection(ctx context.Context, req *adminv1.UpdateConnectionRequest) (*adminv1.UpdateConnectionResponse, error) {
	in := req.GetConnection()
	var v violations
	v.name("connection.name", in.GetName())
	paths := v.mask(req.GetUpdateMask(), connectionPaths...)
	if err := v.err(); err != nil {
		return nil, err
	}
	updated, err := h.s.store.UpdateConnection(ctx, in.GetName(), func(c *store.Connection) error {
		var v violations
		v.connectionFields(c, in, paths)
		v.connection(*c)
		return v.err()
	})
	if err != nil {
		return nil, err
	}
	return &adminv1.UpdateConnectionResponse{Connection: connectionProto(updated)}, nil
}

func (h *adminService) DeleteConnection(ctx context.Context, req *adminv1.DeleteConnectionRequest) (*adminv1.DeleteConnectionResponse, error) {
	var v violations
	v.name("name", req.GetName())
	if err := v.err(); err != nil {
		return nil, err
	}
	return &adminv1.DeleteConnectionResponse{}, h.s.store.DeleteConnection(ctx, req.GetName())
}

func connectionProto(c store.Connection) *adminv1.Connection {
	return &adminv1.Connection{
		Id:               c.ID,
		Name:             c.Name,
		Flow:             keyOf(flows, c.Flow),
		ClientId:         c.ClientID,
		AuthorizationUrl: c.AuthorizationURL,
		TokenUrl:         c.TokenURL,
		Scopes:           c.Scopes,
		Audience:         c.Audience,
		TokenParams:      c.TokenParams,
		TokenAuthMethod:  keyOf(tokenAuthMethods, c.TokenAuthMethod),
		RefreshMargin:    durationpb.New(c.RefreshMargin),
		ClientSecretSet:  c.ClientSecret != "",
		CreateTime:       timestamppb.New(c.CreatedAt),
		UpdateTime:       timestamppb.New(c.UpdatedAt),
	}
}

// Tokens

func (h *adminService) PutToken(ctx context.Context, req *adminv1.PutTokenRequest) (*adminv1.PutTokenResponse, error) {
	var v violations
	v.name("connection", req.GetConnection())
	v.optionalName("org_id", req.GetOrgId())
	if req.GetAccessToken() == "" {
		v.add("access_token", "is required")
	}
	v.text("access_token", req.GetAccessToken(), maxTokenLen)
	v.text("refresh_token", req.GetRefreshToken(), maxTokenLen)
	v.text("token_type", req.GetTokenType(), 64)
	if e := req.GetExpiresAt(); e != nil && e.CheckValid() != nil {
		v.add("expires_at", "must be a valid timestamp")
	}
	for i, s := range req.GetScopes() {
		v.text(fmt.Sprintf("scopes[%d]", i), s, maxTextLen)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	t := store.Token{
		ConnectionName: req.GetConnection(),
		OrgID:          req.GetOrgId(),
		AccessToken:    req.GetAccessToken(),
		RefreshToken:   req.GetRefreshToken(),
		TokenType:      req.GetTokenType(),
		Scopes:         req.GetScopes(),
	}
	if e := req.GetExpiresAt(); e != nil {
		t.ExpiresAt = ptr(e.AsTime())
	}
	stored, err := h.s.store.PutToken(ctx, t)
	if err != nil {
		return nil, err
	}
	return &adminv1.PutTokenResponse{Token: tokenProto(stored)}, nil
}

func (h *adminService) GetToken(ctx context.Context, req *adminv1.GetTokenRequest) (*adminv1.GetTokenResponse, error) {
	if err := requireID(req.GetId()); err != nil {
		return nil, err
	}
	t, err := h.s.store.GetToken(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &adminv1.GetTokenResponse{Token: tokenProto(t)}, nil
}

func (h *adminService) ListTokens(ctx context.Context, req *adminv1.ListTokensRequest) (*adminv1.ListTokensResponse, error) {
	var v violations
	v.optionalName("connection", req.GetConnection())
	page := v.page(req.GetPageSize(), req.GetPageToken())
	if err := v.err(); err != nil {
		return nil, err
	}
	list, err := h.s.store.ListTokens(ctx, req.GetConnection(), page)
	if err != nil {
		return nil, err
	}
	items, next, err := pageOf(page, list, func(t store.Token) string { return t.ID }, infallible(tokenProto))
	return &adminv1.ListTokensResponse{Tokens: items, NextPageToken: next}, err
}

func (h *adminService) DeleteToken(ctx context.Context, req *adminv1.DeleteTokenRequest) (*adminv1.DeleteTokenResponse, error) {
	if err := requireID(req.GetId()); err != nil {
		return nil, err
	}
	return &adminv1.DeleteTokenResponse{}, h.s.store.DeleteToken(ctx, req.GetId())
}

func requireID(id string) error {
	var v violations
	v.id("id", id)
	return v.err()
}

func tokenProto(t store.Token) *adminv1.Token {
	return &adminv1.Token{
		Id:              t.ID,
		Connection:      t.ConnectionName,
		OrgId:           t.OrgID,
		EntityId:        t.EntityID,
		Status:          tokenStatuses[t.Status],
		StatusMessage:   t.StatusMessage,
		TokenType:       t.TokenType,
		Scopes:          t.Scopes,
		ExpiresAt:       timestampOrNil(t.ExpiresAt),
		HasRefreshToken: t.HasRefreshToken,
		Version:         t.Version,
		LastRefreshedAt: timestampOrNil(t.LastRefreshedAt),
		NextRefreshAt:   timestampOrNil(t.NextRefreshAt),
		LastError:       t.LastError,
		CreateTime:      timestamppb.New(t.CreatedAt),
		UpdateTime:      timestamppb.New(t.UpdatedAt),
	}
}

var tokenStatuses = map[store.TokenStatus]adminv1.TokenStatus{
	store.TokenConnected:     adminv1.TokenStatus_TOKEN_STATUS_CONNECTED,
	store.TokenRefreshFailed: adminv1.TokenStatus_TOKEN_STATUS_REFRESH_FAILED,
	store.TokenNeedsReauth:   adminv1.TokenStatus_TOKEN_STATUS_NEEDS_REAUTH,
}

// API keys

var roles = map[adminv1.Role]store.Role{
	adminv1.Role_ROLE_ADMIN:           store.RoleAdmin,
	adminv1.Role_ROLE_WORKER:          store.RoleWorker,
	adminv1.Role_ROLE_WORKER_ALL_ORGS: store.RoleWorkerAllOrgs,
}

func (h *adminService) CreateApiKey(ctx context.Context, req *adminv1.CreateApiKeyRequest) (*adminv1.CreateApiKeyResponse, error) {
	var v violations
	v.text("name", req.GetName(), maxTextLen)
	role, ok := roles[req.GetRole()]
	switch {
	case !ok:
		v.add("role", "must be ADMIN, WORKER or WORKER_ALL_ORGS")
	case role == store.RoleWorker:
		v.name("org_id", req.GetOrgId())
	case req.GetOrgId() != "":
		v.add("org_id", "only a WORKER key is bound to an organization")
	}
	var expires *time.Time
	if e := req.GetExpireTime(); e != nil {
		if e.CheckValid() != nil || !e.AsTime().After(h.s.now()) {
			v.add("expire_time", "must be a valid time in the future")
		}
		expires = ptr(e.AsTime())
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	k, secret, err := CreateAPIKey(ctx, h.s.store, store.APIKey{Name: req.GetName(), Role: role, OrgID: req.GetOrgId(), ExpiresAt: expires})
	if err != nil {
		return nil, err
	}
	return &adminv1.CreateApiKeyResponse{ApiKey: apiKeyProto(k), Secret: secret}, nil
}

// CreateAPIKey makes a new key and stores its hash, returning the secret to hand
// out once. integrationsd uses it to create the first admin key.
func CreateAPIKey(ctx context.Context, s *store.Store, k store.APIKey) (store.APIKey, string, error) {
	id, secret, hash, err := auth.NewKey()
	if err != nil {
		return store.APIKey{}, "", err
	}
	k.ID = id
	created, err := s.CreateAPIKey(ctx, k, hash)
	return created, secret, err
}

// CreateFirstAdminKey mints the installation's first admin key unless the
// installation has had a key before (created == false). keep gets the secret
// first and must put it where the operator will find it: only if it succeeds
// is the key stored, so no key exists that nobody can read.
func CreateFirstAdminKey(ctx context.Context, s *store.Store, keep func(secret string) error) (created bool, err error) {
	id, secret, hash, err := auth.NewKey()
	if err != nil {
		return false, err
	}
	if err := keep(secret); err != nil {
		return false, err
	}
	return s.CreateFirstAPIKey(ctx, store.APIKey{ID: id, Name: "bootstrap admin", Role: store.RoleAdmin}, hash)
}

func (h *adminService) ListApiKeys(ctx context.Context, req *adminv1.ListApiKeysRequest) (*adminv1.ListApiKeysResponse, error) {
	var v violations
	page := v.page(req.GetPageSize(), req.GetPageToken())
	if err := v.err(); err != nil {
		return nil, err
	}
	list, err := h.s.store.ListAPIKeys(ctx, page)
	if err != nil {
		return nil, err
	}
	items, next, err := pageOf(page, list, func(k store.APIKey) string { return k.ID }, infallible(apiKeyProto))
	return &adminv1.ListApiKeysResponse{ApiKeys: items, NextPageToken: next}, err
}

func (h *adminService) RevokeApiKey(ctx context.Context, req *adminv1.RevokeApiKeyRequest) (*adminv1.RevokeApiKeyResponse, error) {
	if err := requireID(req.GetId()); err != nil {
		return nil, err
	}
	k, err := h.s.store.RevokeAPIKey(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &adminv1.RevokeApiKeyResponse{ApiKey: apiKeyProto(k)}, nil
}

func apiKeyProto(k store.APIKey) *adminv1.ApiKey {
	return &adminv1.ApiKey{
		Id:         k.ID,
		Name:       k.Name,
		Role:       keyOf(roles, k.Role),
		OrgId:      k.OrgID,
		CreateTime: timestamppb.New(k.CreatedAt),
		ExpireTime: timestampOrNil(k.ExpiresAt),
		RevokeTime: timestampOrNil(k.RevokedAt),
	}
}

// mask checks an update mask against the paths an Update accepts.
func (v *violations) mask(m *fieldmaskpb.FieldMask, allowed ...string) []string {
	if len(m.GetPaths()) == 0 {
		v.add("update_mask", "is required: name the fields to change")
	}
	for _, p := range m.GetPaths() {
		if !slices.Contains(allowed, p) {
			v.add("update_mask", fmt.Sprintf("path %q is not one of %s", p, strings.Join(allowed, ", ")))
		}
	}
	return m.GetPaths()
}

func ptr[T any](v T) *T { return &v }

// keyOf is the reverse lookup of the enum maps: the proto enum for a store value,
// the zero (UNSPECIFIED) value for none.
func keyOf[K, V comparable](m map[K]V, v V) K {
	for k, mv := range m {
		if mv == v {
			return k
		}
	}
	var zero K
	return zero
}

func timestampOrNil(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

// Audit

func (h *adminService) ListAuditEvents(ctx context.Context, req *adminv1.ListAuditEventsRequest) (*adminv1.ListAuditEventsResponse, error) {
	var v violations
	page := v.page(req.GetPageSize(), req.GetPageToken())
	v.optionalName("org_id", req.GetOrgId())
	v.optionalName("integration", req.GetIntegration())
	v.text("api_key_id", req.GetApiKeyId(), maxIDLen)
	f := store.AuditFilter{OrgID: req.GetOrgId(), Integration: req.GetIntegration(), APIKeyID: req.GetApiKeyId()}
	// Audit pages go by the events' sequence numbers; a token of another list,
	// or one from before the log was numbered, names no place in it.
	if page.After != "" {
		var err error
		if f.Before, err = strconv.ParseInt(page.After, 10, 64); err != nil || f.Before <= 0 {
			v.add("page_token", "is not a token this service returned")
		}
	}
	for _, bound := range []struct {
		field string
		ts    *timestamppb.Timestamp
		to    *time.Time
	}{{"start_time", req.GetStartTime(), &f.Start}, {"end_time", req.GetEndTime(), &f.End}} {
		switch {
		case bound.ts == nil:
		case bound.ts.CheckValid() != nil:
			v.add(bound.field, "must be a valid timestamp")
		default:
			*bound.to = bound.ts.AsTime()
		}
	}
	if !f.Start.IsZero() && !f.End.IsZero() && f.End.Before(f.Start) {
		v.add("end_time", "must not be before start_time")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	events, err := h.s.store.ListAuditEvents(ctx, f, page.Limit)
	if err != nil {
		return nil, err
	}
	items, next, err := pageOf(page, events, func(e store.AuditEvent) string { return strconv.FormatInt(e.Seq, 10) }, infallible(auditEventProto))
	return &adminv1.ListAuditEventsResponse{Events: items, NextPageToken: next}, err
}

func auditEventProto(e store.AuditEvent) *adminv1.AuditEvent {
	return &adminv1.AuditEvent{
		Id: e.ID, Time: timestamppb.New(e.Time), ApiKeyId: e.APIKeyID, Role: keyOf(roles, store.Role(e.Role)),
		Method: e.Method, Integration: e.Integration, OrgId: e.OrgID, Outcome: e.Outcome, RequestId: e.RequestID, Detail: e.Detail,
	}
}

// Encryption keys

func (h *adminService) RotateEncryptionKey(ctx context.Context, _ *adminv1.RotateEncryptionKeyRequest) (*adminv1.RotateEncryptionKeyResponse, error) {
	id, err := h.s.keys.Rotate(ctx)
	if err != nil {
		return nil, err
	}
	return &adminv1.RotateEncryptionKeyResponse{KeyId: id}, nil
}

// maxUndecryptableListed bounds GetEncryptionStatus's list of values that do
// not open; the count is whole.
const maxUndecryptableListed = 100

func (h *adminService) GetEncryptionStatus(ctx context.Context, _ *adminv1.GetEncryptionStatusRequest) (*adminv1.GetEncryptionStatusResponse, error) {
	st, err := h.s.keys.Status(ctx)
	if err != nil {
		return nil, err
	}
	resp := &adminv1.GetEncryptionStatusResponse{Pending: st.Pending, Undecryptable: int64(len(st.Undecryptable))}
	for _, k := range st.Keys {
		resp.Keys = append(resp.Keys, &adminv1.EncryptionKey{
			Id: k.ID, Current: k.Current, CreateTime: timestamppb.New(k.CreatedAt),
			SupersedeTime: timestampOrNil(k.SupersededAt), Ciphertexts: k.Ciphertexts, Undecryptable: k.Undecryptable, MasterKeyId: k.MasterKeyID,
		})
	}
	for _, v := range st.Undecryptable[:min(len(st.Undecryptable), maxUndecryptableListed)] {
		resp.UndecryptableValues = append(resp.UndecryptableValues, &adminv1.UndecryptableValue{Table: v.Table, Column: v.Column, RowId: v.RowID, KeyId: v.KeyID})
	}
	return resp, nil
}

func (h *adminService) RetireEncryptionKey(ctx context.Context, req *adminv1.RetireEncryptionKeyRequest) (*adminv1.RetireEncryptionKeyResponse, error) {
	if req.GetKeyId() == 0 {
		return nil, invalidArgument("key_id", "is required")
	}
	return &adminv1.RetireEncryptionKeyResponse{}, h.s.keys.Retire(ctx, req.GetKeyId())
}

// Connecting accounts

// connectTarget checks the org_id / global pair of a connect request.
func (v *violations) connectTarget(org string, global bool) {
	switch {
	case global && org != "":
		v.add("org_id", "give an organization or global, not both")
	case !global:
		v.name("org_id", org)
	}
}

func (h *adminService) StartAuthorization(ctx context.Context, req *adminv1.StartAuthorizationRequest) (*adminv1.StartAuthorizationResponse, error) {
	var v violations
	v.name("connection", req.GetConnection())
	v.connectTarget(req.GetOrgId(), req.GetGlobal())
	v.optionalName("mapping_integration", req.GetMappingIntegration())
	if req.GetGlobal() && req.GetMappingIntegration() != "" {
		v.add("mapping_integration", "a global token belongs to no organization's mapping")
	}
	if req.GetEntityId() != "" {
		v.entityID("entity_id", req.GetEntityId())
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	started, err := h.s.connect.Start(ctx, authcode.Request{
		Connection: req.GetConnection(), OrgID: req.GetOrgId(), MappingIntegration: req.GetMappingIntegration(), EntityID: req.GetEntityId(),
	})
	if errors.Is(err, authcode.ErrNotAuthorizationCode) {
		return nil, failedPrecondition("WRONG_FLOW", "%s; client_credentials connections connect with ConnectClientCredentials", err)
	}
	if err != nil {
		return nil, err
	}
	return &adminv1.StartAuthorizationResponse{
		AuthorizationUrl: started.AuthorizationURL, RedirectUri: started.RedirectURI, ExpireTime: timestamppb.New(started.ExpiresAt), State: started.State,
	}, nil
}

func (h *adminService) GetAuthorization(ctx context.Context, req *adminv1.GetAuthorizationRequest) (*adminv1.GetAuthorizationResponse, error) {
	var v violations
	if req.GetState() == "" {
		v.add("state", "is required")
	}
	v.text("state", req.GetState(), maxIDLen)
	if err := v.err(); err != nil {
		return nil, err
	}
	a, err := h.s.connect.Outcome(ctx, req.GetState())
	if err != nil {
		return nil, err
	}
	return &adminv1.GetAuthorizationResponse{Authorization: authorizationProto(a, h.s.now())}, nil
}

// authorizationProto is a connect as its admin sees it: no verifier, and no
// state (the caller has it).
func authorizationProto(a store.AuthState, now time.Time) *adminv1.Authorization {
	return &adminv1.Authorization{
		Connection:         a.ConnectionName,
		OrgId:              a.OrgID,
		MappingIntegration: a.MappingIntegration,
		EntityId:           a.EntityID,
		Status:             authorizationStatus(a, now),
		Detail:             a.Detail,
		TokenId:            a.TokenID,
		RedirectUri:        a.RedirectURI,
		CreateTime:         timestamppb.New(a.CreatedAt),
		ExpireTime:         timestamppb.New(a.ExpiresAt),
		FinishTime:         timestampOrNil(a.FinishedAt),
	}
}

func authorizationStatus(a store.AuthState, now time.Time) adminv1.AuthorizationStatus {
	switch a.Outcome {
	case store.AuthConnected:
		return adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_CONNECTED
	case store.AuthDenied:
		return adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_DENIED
	case store.AuthFailed:
		return adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_FAILED
	}
	if !now.Before(a.ExpiresAt) {
		return adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_EXPIRED
	}
	return adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_PENDING
}

func (h *adminService) ConnectClientCredentials(ctx context.Context, req *adminv1.ConnectClientCredentialsRequest) (*adminv1.ConnectClientCredentialsResponse, error) {
	var v violations
	v.name("connection", req.GetConnection())
	v.connectTarget(req.GetOrgId(), req.GetGlobal())
	v.entityID("entity_id", req.GetEntityId())
	if err := v.err(); err != nil {
		return nil, err
	}
	conn, err := h.s.store.GetConnection(ctx, req.GetConnection())
	if err != nil {
		return nil, err
	}
	if conn.Flow != store.FlowClientCredentials {
		return nil, failedPrecondition("WRONG_FLOW", "oauth connection %q uses the authorization_code flow; connect it with StartAuthorization", conn.Name)
	}
	t, err := h.s.store.ClientCredentialsToken(ctx, conn, req.GetOrgId(), req.GetEntityId())
	if err != nil {
		return nil, err
	}
	fresh, err := h.s.refresher.Ensure(ctx, &t, &conn, oauth.Need{Force: true})
	if err != nil {
		return nil, err
	}
	return &adminv1.ConnectClientCredentialsResponse{Token: tokenProto(*fresh)}, nil
}
