package main

import (
	"maps"
	"slices"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
)

func (a *app) integrationsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "integrations", Aliases: []string{"integration"}, Short: "Create and manage integrations"}
	cmd.AddCommand(a.integrationWriteCommand(true), a.integrationWriteCommand(false),
		&cobra.Command{
			Use: "list", Short: "List integrations", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				resp := &adminv1.ListIntegrationsResponse{}
				err := eachPage(func(token string) (string, error) {
					page, err := a.admin.ListIntegrations(cmd.Context(), &adminv1.ListIntegrationsRequest{PageToken: token})
					resp.Integrations = append(resp.Integrations, page.GetIntegrations()...)
					return page.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				return a.print(resp, "NAME\tCONNECTION\tDEFAULT ENTITY\tKEYS\tDESCRIPTION", func(add func(...any)) {
					for _, in := range resp.GetIntegrations() {
						add(in.GetName(), in.GetOauthConnection(), in.GetDefaultEntityId(), len(in.GetConfigSchema()), in.GetDescription())
					}
				})
			},
		},
		&cobra.Command{
			Use: "get NAME", Short: "Show an integration (secret defaults are not shown)", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				resp, err := a.admin.GetIntegration(cmd.Context(), &adminv1.GetIntegrationRequest{Name: args[0]})
				if err != nil {
					return err
				}
				return a.printIntegration(resp.GetIntegration(), resp)
			},
		},
		&cobra.Command{
			Use: "delete NAME", Short: "Delete an integration with its mappings", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				resp, err := a.admin.DeleteIntegration(cmd.Context(), &adminv1.DeleteIntegrationRequest{Name: args[0]})
				if err != nil {
					return err
				}
				return a.print(resp, "DELETED", func(add func(...any)) { add(args[0]) })
			},
		},
	)
	return cmd
}

// integrationWriteCommand is "create" or "update": the same flags, where update
// changes only the fields whose flags were given.
func (a *app) integrationWriteCommand(create bool) *cobra.Command {
	var in adminv1.Integration
	var fields []string
	defaults := configFlags{setFlag: "--default", secretFlag: "--default-secret"}
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Change an integration; only the flags given are changed",
		Args:  cobra.ExactArgs(1),
	}
	if create {
		cmd.Use, cmd.Short = "create NAME", "Create an integration"
	}
	f := cmd.Flags()
	f.StringVar(&in.Description, "description", "", "description")
	f.StringVar(&in.DefaultEntityId, "default-entity-id", "", "entity ID for organizations without a mapping")
	f.BoolVar(&in.WorkersBindEntities, "workers-bind-entities", false, "let worker keys bound to one organization bind it to an entity no other organization holds")
	f.StringVar(&in.OauthConnection, "connection", "", "OAuth connection name (empty to unlink)")
	f.StringArrayVar(&fields, "field", nil, "config schema field key:type[:required], type string|int|bool|json|secret (repeat; replaces the schema)")
	f.StringArrayVar(&defaults.set, "default", nil, "default config value key=value, typed by the schema (repeat)")
	f.StringArrayVar(&defaults.secrets, "default-secret", nil, "secret default key=FILE, - for stdin (repeat)")
	f.StringArrayVar(&defaults.unset, "unset-default", nil, "remove the default of key (repeat)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		in.Name = args[0]
		schema, err := parseSchema(fields)
		if err != nil {
			return err
		}
		in.ConfigSchema = schema
		if !create && !f.Changed("field") {
			cur, err := a.admin.GetIntegration(cmd.Context(), &adminv1.GetIntegrationRequest{Name: in.Name})
			if err != nil {
				return err
			}
			schema = cur.GetIntegration().GetConfigSchema()
		}
		if in.DefaultConfig, err = defaults.patch(a, schema); err != nil {
			return err
		}
		if create {
			resp, err := a.admin.CreateIntegration(cmd.Context(), &adminv1.CreateIntegrationRequest{Integration: &in})
			if err != nil {
				return err
			}
			return a.printIntegration(resp.GetIntegration(), resp)
		}
		mask := changedPaths(cmd, map[string]string{
			"description": "description", "default-entity-id": "default_entity_id", "workers-bind-entities": "workers_bind_entities", "connection": "oauth_connection",
			"field": "config_schema", "default": "default_config", "default-secret": "default_config", "unset-default": "default_config",
		})
		resp, err := a.admin.UpdateIntegration(cmd.Context(), &adminv1.UpdateIntegrationRequest{Integration: &in, UpdateMask: mask})
		if err != nil {
			return err
		}
		return a.printIntegration(resp.GetIntegration(), resp)
	}
	return cmd
}

func (a *app) printIntegration(in *adminv1.Integration, resp proto.Message) error {
	return a.print(resp, "FIELD\tVALUE", func(add func(...any)) {
		add("name", in.GetName())
		add("id", in.GetId())
		add("description", in.GetDescription())
		add("connection", in.GetOauthConnection())
		add("default entity", in.GetDefaultEntityId())
		add("workers bind entities", in.GetWorkersBindEntities())
		for _, f := range in.GetConfigSchema() {
			req := ""
			if f.GetRequired() {
				req = " (required)"
			}
			add("field "+f.GetKey(), cell(f.GetType())+req)
		}
		defaults := in.GetDefaultConfig().AsMap()
		for _, k := range slices.Sorted(maps.Keys(defaults)) {
			add("default "+k, defaults[k])
		}
		for _, k := range in.GetDefaultSecretKeys() {
			add("default "+k, "(secret, set)")
		}
		add("updated", in.GetUpdateTime())
	})
}

// changedPaths is the update mask of the flags given on the command line.
func changedPaths(cmd *cobra.Command, flagToPath map[string]string) *fieldmaskpb.FieldMask {
	mask := &fieldmaskpb.FieldMask{}
	seen := map[string]bool{}
	for flag, path := range flagToPath {
		if cmd.Flags().Changed(flag) && !seen[path] {
			seen[path] = true
			mask.Paths = append(mask.Paths, path)
		}
	}
	return mask
}

// eachPage calls fetch with each page token until it returns an empty one.
func eachPage(fetch func(token string) (string, error)) error {
	token := ""
	for {
		next, err := fetch(token)
		if err != nil || next == "" {
			return err
		}
		token = next
	}
}
