package main

import (
	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
)

func (a *app) mappingsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "mappings", Aliases: []string{"mapping"}, Short: "Map organizations to integrations"}
	var getOrg, getEntity, deleteOrg string
	get := &cobra.Command{
		Use: "get INTEGRATION (--org ORG | --entity-id ID)", Short: "Show one organization's mapping", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := a.integrations.GetMapping(cmd.Context(), &integrationsv1.GetMappingRequest{Name: args[0], OrgId: getOrg, EntityId: getEntity})
			if err != nil {
				return err
			}
			isSecret, err := a.secretKeysOf(cmd, args[0])
			if err != nil {
				return err
			}
			a.redact(resp, isSecret)
			return a.printMappings(resp, resp.GetMapping())
		},
	}
	get.Flags().StringVar(&getOrg, "org", "", "organization ID")
	get.Flags().StringVar(&getEntity, "entity-id", "", "external entity ID")
	del := &cobra.Command{
		Use: "delete INTEGRATION --org ORG", Short: "Delete an organization's mapping and its overrides", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := a.integrations.DeleteMapping(cmd.Context(), &integrationsv1.DeleteMappingRequest{Name: args[0], OrgId: deleteOrg})
			if err != nil {
				return err
			}
			return a.print(resp, "DELETED", func(add func(...any)) { add(resp.GetDeleted()) })
		},
	}
	del.Flags().StringVar(&deleteOrg, "org", "", "organization ID")
	cmd.AddCommand(a.mappingUpsertCommand(), get, del,
		&cobra.Command{
			Use: "list INTEGRATION", Short: "List the integration's mappings", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				resp := &integrationsv1.ListMappingsResponse{}
				err := eachPage(func(token string) (string, error) {
					page, err := a.integrations.ListMappings(cmd.Context(), &integrationsv1.ListMappingsRequest{Name: args[0], PageToken: token})
					resp.Mappings = append(resp.Mappings, page.GetMappings()...)
					return page.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				isSecret, err := a.secretKeysOf(cmd, args[0])
				if err != nil {
					return err
				}
				a.redact(resp, isSecret)
				return a.printMappings(resp, resp.GetMappings()...)
			},
		},
	)
	return cmd
}

func (a *app) mappingUpsertCommand() *cobra.Command {
	var req integrationsv1.UpsertMappingRequest
	cfg := configFlags{setFlag: "--set", secretFlag: "--secret"}
	cmd := &cobra.Command{
		Use:   "upsert INTEGRATION --org ORG [--entity-id ID] [--set key=value]...",
		Short: "Create or update an organization's mapping; flags not given keep their value",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Name = args[0]
			schema, known, err := a.schemaOf(cmd, req.Name)
			if err != nil {
				return err
			}
			if req.Config, err = cfg.patch(a, schema); err != nil {
				return err
			}
			resp, err := a.integrations.UpsertMapping(cmd.Context(), &req)
			if err != nil {
				return err
			}
			var isSecret func(string) bool
			if known {
				isSecret = schemaSecrets(schema)
			}
			a.redact(resp, isSecret)
			return a.printMappings(resp, resp.GetMapping())
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.OrgId, "org", "", "organization ID (default: the key's organization)")
	f.StringVar(&req.EntityId, "entity-id", "", "external entity ID (tenant, company)")
	f.StringVar(&req.EntityName, "entity-name", "", "display name of the entity")
	f.StringVar(&req.OauthTokenId, "token-id", "", "OAuth token this organization uses instead of its own or the global one")
	f.StringArrayVar(&cfg.set, "set", nil, "override key=value, typed by the integration's schema (repeat)")
	f.StringArrayVar(&cfg.secrets, "secret", nil, "secret override key=FILE, - for stdin (repeat)")
	f.StringArrayVar(&cfg.unset, "unset", nil, "remove the override of key, so the default shows again (repeat)")
	return cmd
}

// schemaOf fetches the integration's schema, to type --set values and to know
// which config keys are secret. Keys that are not admins cannot read it (known
// is false): their values are then typed by their look, and every config value
// is redacted.
func (a *app) schemaOf(cmd *cobra.Command, name string) (schema []*adminv1.ConfigField, known bool, err error) {
	resp, err := a.admin.GetIntegration(cmd.Context(), &adminv1.GetIntegrationRequest{Name: name})
	if status.Code(err) == codes.PermissionDenied {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return resp.GetIntegration().GetConfigSchema(), true, nil
}

func (a *app) printMappings(resp proto.Message, mappings ...*integrationsv1.IntegrationMapping) error {
	return a.print(resp, "ORG\tENTITY\tENTITY NAME\tTOKEN\tCONFIG\tUPDATED", func(add func(...any)) {
		for _, m := range mappings {
			cfg, _ := protojson.Marshal(m.GetConfig())
			add(m.GetOrganizationId(), m.GetEntityId(), m.GetEntityName(), m.GetOauthTokenId(), string(cfg), m.GetUpdatedAt())
		}
	})
}
