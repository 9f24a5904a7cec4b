package main

import (
	"errors"

	"github.com/spf13/cobra"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
)

func (a *app) getCommand() *cobra.Command {
	var req integrationsv1.GetIntegrationRequest
	var global bool
	cmd := &cobra.Command{
		Use:   "get NAME [--org ORG | --global]",
		Short: "Print what a workflow gets for an integration, as JSON (secrets redacted unless --show-secrets)",
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
			return a.writeJSON(data)
		},
	}
	cmd.Flags().StringVar(&req.OrgId, "org", "", "organization ID")
	cmd.Flags().BoolVar(&global, "global", false, "the platform-level defaults")
	return cmd
}
