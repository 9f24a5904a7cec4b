package main

import (
	"errors"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/structpb"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
)

const redacted = "REDACTED"

func (a *app) getCommand() *cobra.Command {
	var req integrationsv1.GetIntegrationRequest
	var global, showSecrets bool
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
			if !showSecrets {
				redact(data)
			}
			return a.writeJSON(data)
		},
	}
	cmd.Flags().StringVar(&req.OrgId, "org", "", "organization ID")
	cmd.Flags().BoolVar(&global, "global", false, "the platform-level defaults")
	cmd.Flags().BoolVar(&showSecrets, "show-secrets", false, "print tokens, client secret and secret config values")
	return cmd
}

func redact(d *integrationsv1.IntegrationData) {
	for _, k := range d.GetConfigSecretKeys() {
		d.GetConfig().GetFields()[k] = structpb.NewStringValue(redacted)
	}
	if o := d.GetOauth(); o != nil {
		for _, s := range []*string{&o.ClientSecret, &o.AccessToken, &o.RefreshToken} {
			if *s != "" {
				*s = redacted
			}
		}
	}
}
