package client

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
)

// IntegrationData is an integration as one organization sees it.
type IntegrationData struct {
	IntegrationID   string
	IntegrationName string
	// EntityID is the external entity (tenant, company) the organization maps to.
	EntityID   string
	EntityName string
	// Config is the defaults merged with the organization's overrides.
	Config map[string]any
	// OAuth is nil when the integration has no OAuth connection.
	OAuth *OAuthCredentials
	// ConfigSecretKeys names the Config keys that hold secrets.
	ConfigSecretKeys []string
}

// ConnectionStatus is the state of the OAuth token.
type ConnectionStatus string

const (
	StatusConnected     ConnectionStatus = "CONNECTED"
	StatusRefreshFailed ConnectionStatus = "REFRESH_FAILED"
	StatusNeedsReauth   ConnectionStatus = "NEEDS_REAUTH"
	StatusNotConnected  ConnectionStatus = "NOT_CONNECTED"
)

// OAuthCredentials is the connection and the token to call the external system
// with. String and LogValue redact the secrets, so printing or logging it by
// accident does not leak them.
type OAuthCredentials struct {
	ConnectionName string
	ClientID       string
	// ClientSecret is empty for a key bound to one organization.
	ClientSecret     string
	AuthorizationURL string
	TokenURL         string
	Scopes           []string
	AccessToken      string
	// RefreshToken is empty for a key bound to one organization unless the
	// token is that organization's own.
	RefreshToken string
	// ExpiresAt is nil for a token without expiry (or no token).
	ExpiresAt     *time.Time
	Status        ConnectionStatus
	StatusMessage string
}

func (o OAuthCredentials) String() string {
	expires := "never"
	if o.ExpiresAt != nil {
		expires = o.ExpiresAt.Format(time.RFC3339)
	}
	return fmt.Sprintf("OAuthCredentials{connection=%s client_id=%s scopes=%s status=%s expires_at=%s secrets=REDACTED}",
		o.ConnectionName, o.ClientID, strings.Join(o.Scopes, " "), o.Status, expires)
}

// LogValue keeps secrets out of slog output.
func (o OAuthCredentials) LogValue() slog.Value { return slog.StringValue(o.String()) }

// IntegrationMapping ties an organization to an integration.
type IntegrationMapping struct {
	ID             string
	IntegrationID  string
	OrganizationID string
	EntityID       string
	EntityName     string
	OAuthTokenID   string
	// Config is the organization's overrides (not merged with the defaults).
	Config    map[string]any
	CreatedAt time.Time
	UpdatedAt time.Time
}

var statuses = map[integrationsv1.ConnectionStatus]ConnectionStatus{
	integrationsv1.ConnectionStatus_CONNECTION_STATUS_CONNECTED:      StatusConnected,
	integrationsv1.ConnectionStatus_CONNECTION_STATUS_REFRESH_FAILED: StatusRefreshFailed,
	integrationsv1.ConnectionStatus_CONNECTION_STATUS_NEEDS_REAUTH:   StatusNeedsReauth,
	integrationsv1.ConnectionStatus_CONNECTION_STATUS_NOT_CONNECTED:  StatusNotConnected,
}

func integrationData(d *integrationsv1.IntegrationData) *IntegrationData {
	out := &IntegrationData{
		IntegrationID:    d.GetIntegrationId(),
		IntegrationName:  d.GetIntegrationName(),
		EntityID:         d.GetEntityId(),
		EntityName:       d.GetEntityName(),
		Config:           d.GetConfig().AsMap(),
		ConfigSecretKeys: d.GetConfigSecretKeys(),
	}
	if o := d.GetOauth(); o != nil {
		out.OAuth = &OAuthCredentials{
			ConnectionName:   o.GetConnectionName(),
			ClientID:         o.GetClientId(),
			ClientSecret:     o.GetClientSecret(),
			AuthorizationURL: o.GetAuthorizationUrl(),
			TokenURL:         o.GetTokenUrl(),
			Scopes:           o.GetScopes(),
			AccessToken:      o.GetAccessToken(),
			RefreshToken:     o.GetRefreshToken(),
			Status:           statuses[o.GetStatus()],
			StatusMessage:    o.GetStatusMessage(),
		}
		if e := o.GetExpiresAt(); e != nil {
			t := e.AsTime()
			out.OAuth.ExpiresAt = &t
		}
	}
	return out
}

func mapping(m *integrationsv1.IntegrationMapping) *IntegrationMapping {
	return &IntegrationMapping{
		ID:             m.GetId(),
		IntegrationID:  m.GetIntegrationId(),
		OrganizationID: m.GetOrganizationId(),
		EntityID:       m.GetEntityId(),
		EntityName:     m.GetEntityName(),
		OAuthTokenID:   m.GetOauthTokenId(),
		Config:         m.GetConfig().AsMap(),
		CreatedAt:      m.GetCreatedAt().AsTime(),
		UpdatedAt:      m.GetUpdatedAt().AsTime(),
	}
}
