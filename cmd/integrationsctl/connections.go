package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
)

func (a *app) connectionsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "connections", Aliases: []string{"connection"}, Short: "Create and manage OAuth connections"}
	cmd.AddCommand(a.connectionWriteCommand(true), a.connectionWriteCommand(false),
		&cobra.Command{
			Use: "list", Short: "List OAuth connections", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				resp := &adminv1.ListConnectionsResponse{}
				err := eachPage(func(token string) (string, error) {
					page, err := a.admin.ListConnections(cmd.Context(), &adminv1.ListConnectionsRequest{PageToken: token})
					resp.Connections = append(resp.Connections, page.GetConnections()...)
					return page.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				return a.print(resp, "NAME\tFLOW\tCLIENT ID\tTOKEN URL\tSCOPES", func(add func(...any)) {
					for _, c := range resp.GetConnections() {
						add(c.GetName(), c.GetFlow(), c.GetClientId(), c.GetTokenUrl(), c.GetScopes())
					}
				})
			},
		},
		&cobra.Command{
			Use: "get NAME", Short: "Show an OAuth connection (never its secret)", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				resp, err := a.admin.GetConnection(cmd.Context(), &adminv1.GetConnectionRequest{Name: args[0]})
				if err != nil {
					return err
				}
				return a.printConnection(resp.GetConnection(), resp)
			},
		},
		&cobra.Command{
			Use: "delete NAME", Short: "Delete an OAuth connection and its tokens", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				resp, err := a.admin.DeleteConnection(cmd.Context(), &adminv1.DeleteConnectionRequest{Name: args[0]})
				if err != nil {
					return err
				}
				return a.print(resp, "DELETED", func(add func(...any)) { add(args[0]) })
			},
		},
	)
	return cmd
}

func (a *app) connectionWriteCommand(create bool) *cobra.Command {
	var c adminv1.Connection
	var flow, authMethod, secretFile, provider, host string
	var margin time.Duration
	cmd := &cobra.Command{Use: "update NAME", Short: "Change an OAuth connection; only the flags given are changed", Args: cobra.ExactArgs(1)}
	f := cmd.Flags()
	if create {
		cmd.Use, cmd.Short = "create NAME [--provider PROVIDER [--host HOST]]", "Create an OAuth connection, by hand or from the provider catalog"
		cmd.Long = `Create an OAuth connection. With --provider, the URLs, scopes, flow, audience,
token auth method and token parameters come from the provider catalog
(integrationsctl providers list); each of those flags given as well replaces
the catalog's value for its field. URLs with {host} need --host (the host of
your own instance) unless the provider has a default one; {entity_id} stays
for the service to fill per token. The client secret comes from
--client-secret-file, never the command line.`
		f.StringVar(&provider, "provider", "", "fill the connection from this provider catalog entry (integrationsctl providers list)")
		f.StringVar(&host, "host", "", "with --provider: the host of your own instance, which fills {host} in the provider's URLs")
	}
	f.StringVar(&flow, "flow", "authorization_code", "authorization_code or client_credentials")
	f.StringVar(&c.ClientId, "client-id", "", "OAuth client ID")
	f.StringVar(&secretFile, "client-secret-file", "", "file holding the client secret, - for stdin")
	f.StringVar(&c.AuthorizationUrl, "authorization-url", "", "authorization endpoint (authorization_code flow)")
	f.StringVar(&c.TokenUrl, "token-url", "", "token endpoint; may contain {entity_id}")
	f.StringSliceVar(&c.Scopes, "scope", nil, "scope (repeat, or comma-separated)")
	f.StringVar(&c.Audience, "audience", "", "audience parameter some providers require")
	f.DurationVar(&margin, "refresh-margin", 5*time.Minute, "refresh tokens this long before they expire")
	f.StringToStringVar(&c.TokenParams, "token-param", nil, "extra token request parameter key=value (repeat)")
	f.StringVar(&authMethod, "token-auth-method", "client_secret_basic", "how the client authenticates at the token endpoint: client_secret_basic or client_secret_post")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c.Name = args[0]
		if create {
			if err := fromCatalog(cmd, &c, &flow, &authMethod, provider, host); err != nil {
				return err
			}
		}
		v, ok := enumValue(adminv1.Flow_value, "FLOW_", flow)
		if !ok {
			return fmt.Errorf("--flow must be authorization_code or client_credentials, not %q", flow)
		}
		c.Flow = adminv1.Flow(v)
		m, ok := enumValue(adminv1.TokenAuthMethod_value, "TOKEN_AUTH_METHOD_", authMethod)
		if !ok {
			return fmt.Errorf("--token-auth-method must be client_secret_basic or client_secret_post, not %q", authMethod)
		}
		c.TokenAuthMethod = adminv1.TokenAuthMethod(m)
		c.RefreshMargin = durationpb.New(margin)
		if secretFile != "" {
			secret, err := readSecret(a.in, secretFile)
			if err != nil {
				return err
			}
			c.ClientSecret = secret
		}
		if create {
			resp, err := a.admin.CreateConnection(cmd.Context(), &adminv1.CreateConnectionRequest{Connection: &c})
			if err != nil {
				return err
			}
			return a.printConnection(resp.GetConnection(), resp)
		}
		mask := changedPaths(cmd, map[string]string{
			"flow": "flow", "client-id": "client_id", "client-secret-file": "client_secret", "authorization-url": "authorization_url",
			"token-url": "token_url", "scope": "scopes", "audience": "audience", "refresh-margin": "refresh_margin",
			"token-param": "token_params", "token-auth-method": "token_auth_method",
		})
		resp, err := a.admin.UpdateConnection(cmd.Context(), &adminv1.UpdateConnectionRequest{Connection: &c, UpdateMask: mask})
		if err != nil {
			return err
		}
		return a.printConnection(resp.GetConnection(), resp)
	}
	return cmd
}

func (a *app) printConnection(c *adminv1.Connection, resp proto.Message) error {
	return a.print(resp, "FIELD\tVALUE", func(add func(...any)) {
		add("name", c.GetName())
		add("flow", c.GetFlow())
		add("client id", c.GetClientId())
		add("client secret set", c.GetClientSecretSet())
		add("authorization url", c.GetAuthorizationUrl())
		add("token url", c.GetTokenUrl())
		add("scopes", c.GetScopes())
		add("audience", c.GetAudience())
		add("refresh margin", c.GetRefreshMargin().AsDuration())
		add("token auth method", strings.ToLower(strings.TrimPrefix(c.GetTokenAuthMethod().String(), "TOKEN_AUTH_METHOD_")))
		for _, k := range slices.Sorted(maps.Keys(c.GetTokenParams())) {
			add("token param "+k, c.GetTokenParams()[k])
		}
	})
}
