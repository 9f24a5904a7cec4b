package main

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"

	"github.com/spf13/cobra"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
)

func (a *app) getCommand() *cobra.Command {
	var req integrationsv1.GetIntegrationRequest
	var global bool
	cmd := &cobra.Command{
		Use:   "get NAME [--org ORG | --global]",
		Short: "Show what a workflow gets for an integration (secrets redacted unless --show-secrets)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if global && req.OrgId != "" {
				return errors.New("give at most one of --org and --global")
			}
			req.Name = args[0]
			if global {
				req.Scope = "global"
			}
			resp, err := a.integrations.GetIntegration(cmd.Context(), &req)
			if err != nil {
				return err
			}
			data := resp.GetIntegration()
			a.redact(data, keys(data.GetConfigSecretKeys()))
			return a.print(data, "FIELD\tVALUE", func(add func(...any)) {
				add("integration", data.GetIntegrationName())
				add("integration id", data.GetIntegrationId())
				add("entity id", data.GetEntityId())
				add("entity name", data.GetEntityName())
				cfg := data.GetConfig().AsMap()
				for _, k := range slices.Sorted(maps.Keys(cfg)) {
					add("config "+k, configText(cfg[k]))
				}
				o := data.GetOauth()
				if o == nil {
					add("oauth", "none (the integration has no OAuth connection)")
					return
				}
				add("oauth connection", o.GetConnectionName())
				add("oauth status", o.GetStatus())
				add("oauth status message", o.GetStatusMessage())
				add("oauth expires", o.GetExpiresAt())
				add("oauth access token", o.GetAccessToken())
				add("oauth refresh token", o.GetRefreshToken())
				add("oauth scopes", o.GetScopes())
				add("oauth client id", o.GetClientId())
				add("oauth client secret", o.GetClientSecret())
				add("oauth authorization url", o.GetAuthorizationUrl())
				add("oauth token url", o.GetTokenUrl())
			})
		},
	}
	cmd.Flags().StringVar(&req.OrgId, "org", "", "organization ID")
	cmd.Flags().BoolVar(&global, "global", false, "the platform-level defaults")
	return cmd
}

// configText is a config value as a table shows it: a string as it is, any
// other value as JSON.
func configText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}
