package server

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bifrost/integrations/auth"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/oauth"
	"github.com/bifrost/integrations/store"
)

// scopeGlobal asks for the platform defaults whatever the organization.
const scopeGlobal = "global"

type integrationsService struct {
	integrationsv1.UnimplementedIntegrationsServiceServer
	s *Server
}

func (h *integrationsService) GetIntegration(ctx context.Context, req *integrationsv1.GetIntegrationRequest) (*integrationsv1.GetIntegrationResponse, error) {
	var v violations
	v.name("name", req.GetName())
	v.optionalName("org_id", req.GetOrgId())
	if sc := req.GetScope(); sc != "" && sc != scopeGlobal {
		v.add("scope", `must be empty or "global"`)
	}
	if mv := req.GetMinValidity(); mv != nil && (mv.CheckValid() != nil || mv.AsDuration() < 0) {
		v.add("min_validity", "must be a valid, non-negative duration")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	// The organization the call is about, checked even with scope global
	// (where it only names who is asking); the data read is global's then.
	asking, err := resolveOrg(ctx, req.GetOrgId())
	if err != nil {
		return nil, err
	}
	org := asking
	if req.GetScope() == scopeGlobal {
		org = ""
	}
	r, err := h.s.store.Resolve(ctx, req.GetName(), org)
	if err != nil {
		return nil, err
	}
	need := oauth.Need{Force: req.GetForceRefresh(), MinValidity: req.GetMinValidity().AsDuration()}
	token, err := h.freshToken(ctx, r, org, need)
	if err != nil {
		return nil, err
	}
	view := viewFor(caller(ctx))
	p, err := prepared(r, view)
	if err != nil {
		return nil, err
	}
	// Whether the call is audited follows from what goes out, worked out when
	// the answer was built, not from a message other calls share.
	answer, secrets := p.answer, p.secrets
	if token == r.Token {
		offerEncoding(ctx, answer, p.wire)
	} else { // refreshed by this call: an answer of its own, encoded as any other
		if answer, err = integrationAnswer(r, token, view); err != nil {
			return nil, err
		}
		secrets = returnsSecrets(answer)
	}
	if secrets {
		notedSecrets(ctx, r.Integration.Name, asking)
	}
	return answer, nil
}

// answerView is which of a connection's secrets an answer holds besides the
// access token. A key bound to one organization gets neither the client
// secret, with which anyone can ask the provider for a token of any entity
// the platform's app reaches, nor a refresh token that is not its own
// organization's (the global token's, which used elsewhere would be rotated
// away from every organization). The service refreshes tokens; a workflow
// needs the access token.
type answerView struct {
	clientSecret        bool
	sharedRefreshTokens bool
}

func viewFor(p auth.Principal) answerView {
	all := p.ActsForAllOrgs()
	return answerView{clientSecret: all, sharedRefreshTokens: all}
}

// integrationAnswer is GetIntegration's answer for r with token, as view
// allows: a message of its own, sharing no message, slice or map with r,
// which the store shares with every caller until the next write, nor with any
// other answer.
func integrationAnswer(r *store.Resolved, token *store.Token, view answerView) (*integrationsv1.GetIntegrationResponse, error) {
	data, err := integrationData(r, token, view)
	if err != nil {
		return nil, err
	}
	return &integrationsv1.GetIntegrationResponse{Integration: data}, nil
}

// returnsSecrets says whether GetIntegration's answer holds a secret: a secret
// config value, an access or refresh token or a client secret.
func returnsSecrets(answer *integrationsv1.GetIntegrationResponse) bool {
	data := answer.GetIntegration()
	o := data.GetOauth()
	return len(data.GetConfigSecretKeys()) > 0 || o.GetClientSecret() != "" || o.GetAccessToken() != "" || o.GetRefreshToken() != ""
}

func (h *integrationsService) ListMappings(ctx context.Context, req *integrationsv1.ListMappingsRequest) (*integrationsv1.ListMappingsResponse, error) {
	var v violations
	v.name("name", req.GetName())
	page := v.page(req.GetPageSize(), req.GetPageToken())
	if err := v.err(); err != nil {
		return nil, err
	}
	org, err := listedOrg(ctx)
	if err != nil {
		return nil, err
	}
	mappings, err := h.s.store.ListMappings(ctx, req.GetName(), org, page)
	if err != nil {
		return nil, err
	}
	if slices.ContainsFunc(mappings, func(m store.Mapping) bool { return len(m.SecretKeys) > 0 }) {
		notedSecrets(ctx, req.GetName(), org)
	}
	items, next, err := pageOf(page, mappings, func(m store.Mapping) string { return m.OrgID }, mappingProto)
	return &integrationsv1.ListMappingsResponse{Mappings: items, NextPageToken: next}, err
}

func (h *integrationsService) GetMapping(ctx context.Context, req *integrationsv1.GetMappingRequest) (*integrationsv1.GetMappingResponse, error) {
	var v violations
	v.name("name", req.GetName())
	v.optionalName("org_id", req.GetOrgId())
	v.entityID("entity_id", req.GetEntityId())
	if err := v.err(); err != nil {
		return nil, err
	}
	org, err := resolveOrg(ctx, req.GetOrgId())
	if err != nil {
		return nil, err
	}
	var m store.Mapping
	switch {
	case org != "":
		if m, err = h.s.store.GetMapping(ctx, req.GetName(), org); err != nil {
			return nil, err
		}
		if e := req.GetEntityId(); e != "" && !strings.EqualFold(m.EntityID, e) { // one entity whatever its case
			return nil, fmt.Errorf("mapping of organization %q to entity %q: %w", org, e, store.ErrNotFound)
		}
	case req.GetEntityId() != "":
		if m, err = h.s.store.FindMappingByEntity(ctx, req.GetName(), req.GetEntityId()); err != nil {
			return nil, err
		}
	default:
		return nil, invalidArgument("org_id", "is required (or entity_id) for a key bound to no organization")
	}
	pm, err := mappingProto(m)
	if err != nil {
		return nil, err
	}
	if len(m.SecretKeys) > 0 {
		notedSecrets(ctx, req.GetName(), m.OrgID)
	}
	return &integrationsv1.GetMappingResponse{Mapping: pm}, nil
}

func (h *integrationsService) UpsertMapping(ctx context.Context, req *integrationsv1.UpsertMappingRequest) (*integrationsv1.UpsertMappingResponse, error) {
	var v violations
	v.name("name", req.GetName())
	v.optionalName("org_id", req.GetOrgId())
	v.entityID("entity_id", req.GetEntityId())
	v.text("entity_name", req.GetEntityName(), maxTextLen)
	v.text("oauth_token_id", req.GetOauthTokenId(), maxIDLen)
	v.config("config", req.GetConfig())
	if err := v.err(); err != nil {
		return nil, err
	}
	org, err := requireOrg(ctx, req.GetOrgId())
	if err != nil {
		return nil, err
	}
	m, err := h.s.store.UpsertMapping(ctx, store.MappingUpsert{
		Integration:  req.GetName(),
		OrgID:        org,
		EntityID:     req.GetEntityId(),
		EntityName:   req.GetEntityName(),
		OAuthTokenID: req.GetOauthTokenId(),
		ConfigPatch:  req.GetConfig().AsMap(),
		ByOrgKey:     !caller(ctx).ActsForAllOrgs(),
	})
	if err != nil {
		return nil, inField("config", err)
	}
	pm, err := mappingProto(m)
	if err != nil {
		return nil, err
	}
	return &integrationsv1.UpsertMappingResponse{Mapping: pm}, nil
}

func (h *integrationsService) DeleteMapping(ctx context.Context, req *integrationsv1.DeleteMappingRequest) (*integrationsv1.DeleteMappingResponse, error) {
	var v violations
	v.name("name", req.GetName())
	v.optionalName("org_id", req.GetOrgId())
	if err := v.err(); err != nil {
		return nil, err
	}
	org, err := requireOrg(ctx, req.GetOrgId())
	if err != nil {
		return nil, err
	}
	deleted, err := h.s.store.DeleteMapping(ctx, req.GetName(), org)
	if err != nil {
		return nil, err
	}
	return &integrationsv1.DeleteMappingResponse{Deleted: deleted}, nil
}

// freshToken returns the resolved token, or one fresh enough for need in its
// place, fetching a client-credentials token on first need; nil when there is
// none. It runs on every GetIntegration: token and connection stay behind
// pointers, so that its stack frame stays small (see oauth.Refresher.Ensure).
func (h *integrationsService) freshToken(ctx context.Context, r *store.Resolved, org string, need oauth.Need) (*store.Token, error) {
	if r.Connection == nil {
		return nil, nil
	}
	token := r.Token
	if token == nil && r.Connection.Flow == store.FlowClientCredentials {
		var err error
		if token, err = h.clientCredentialsToken(ctx, r, org); err != nil {
			return nil, err
		}
	}
	if token == nil {
		if need.Demanding() {
			return nil, failedPrecondition(oauth.ReasonNeedsReauth, "no token is stored for this organization or the global scope; connect the account")
		}
		return nil, nil
	}
	return h.s.refresher.Ensure(ctx, token, r.Connection, need)
}

// clientCredentialsToken is the stored token of a client-credentials
// connection, created on first need.
func (h *integrationsService) clientCredentialsToken(ctx context.Context, r *store.Resolved, org string) (*store.Token, error) {
	t, err := h.s.store.ClientCredentialsToken(ctx, *r.Connection, org, r.EntityID)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// requireOrg resolves the organization of a write, which must name one.
func requireOrg(ctx context.Context, requested string) (string, error) {
	org, err := resolveOrg(ctx, requested)
	if err == nil && org == "" {
		err = invalidArgument("org_id", "is required for a key bound to no organization")
	}
	return org, err
}

// integrationData is the integration as one organization (or the global scope)
// sees it: defaults merged with the mapping's overrides, the mapped entity, and
// the chosen token.
func integrationData(r *store.Resolved, token *store.Token, view answerView) (*integrationsv1.IntegrationData, error) {
	cfg, err := structpb.NewStruct(r.Config)
	if err != nil {
		return nil, fmt.Errorf("encoding config of %q: %w", r.Integration.Name, err)
	}
	data := &integrationsv1.IntegrationData{
		IntegrationId:    r.Integration.ID,
		IntegrationName:  r.Integration.Name,
		EntityId:         r.EntityID,
		Config:           cfg,
		ConfigSecretKeys: slices.Clone(r.SecretKeys),
	}
	if m := r.Mapping; m != nil {
		data.EntityName = m.EntityName
	}
	if c := r.Connection; c != nil {
		data.Oauth = oauthCredentials(c, token, r, view)
	}
	return data, nil
}

func oauthCredentials(c *store.Connection, t *store.Token, r *store.Resolved, view answerView) *integrationsv1.OAuthCredentials {
	creds := &integrationsv1.OAuthCredentials{
		ConnectionName:   c.Name,
		ClientId:         c.ClientID,
		AuthorizationUrl: oauth.FillEntity(c.AuthorizationURL, r.EntityID),
		TokenUrl:         oauth.FillEntity(c.TokenURL, r.EntityID),
		Scopes:           slices.Clone(c.Scopes),
		Status:           integrationsv1.ConnectionStatus_CONNECTION_STATUS_NOT_CONNECTED,
		StatusMessage:    "no token is stored for this organization or the global scope",
	}
	if view.clientSecret {
		creds.ClientSecret = c.ClientSecret
	}
	if t == nil {
		return creds
	}
	creds.AccessToken = t.AccessToken
	if view.sharedRefreshTokens || (t.OrgID != "" && t.OrgID == r.OrgID) {
		creds.RefreshToken = t.RefreshToken
	}
	creds.ExpiresAt = timestampOrNil(t.ExpiresAt)
	creds.StatusMessage = t.StatusMessage
	creds.Status = connectionStatuses[t.Status]
	if len(t.Scopes) > 0 {
		creds.Scopes = slices.Clone(t.Scopes)
	}
	return creds
}

// connectionStatuses is built once, not on every read.
var connectionStatuses = map[store.TokenStatus]integrationsv1.ConnectionStatus{
	store.TokenConnected:     integrationsv1.ConnectionStatus_CONNECTION_STATUS_CONNECTED,
	store.TokenRefreshFailed: integrationsv1.ConnectionStatus_CONNECTION_STATUS_REFRESH_FAILED,
	store.TokenNeedsReauth:   integrationsv1.ConnectionStatus_CONNECTION_STATUS_NEEDS_REAUTH,
}

func mappingProto(m store.Mapping) (*integrationsv1.IntegrationMapping, error) {
	cfg, err := structpb.NewStruct(m.Config)
	if err != nil {
		return nil, fmt.Errorf("encoding config of mapping %s: %w", m.ID, err)
	}
	return &integrationsv1.IntegrationMapping{
		Id:             m.ID,
		IntegrationId:  m.IntegrationID,
		OrganizationId: m.OrgID,
		EntityId:       m.EntityID,
		EntityName:     m.EntityName,
		OauthTokenId:   m.OAuthTokenID,
		Config:         cfg,
		CreatedAt:      timestamppb.New(m.CreatedAt),
		UpdatedAt:      timestamppb.New(m.UpdatedAt),
	}, nil
}
