package main

import (
	"errors"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
)

func (a *app) tokensCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "tokens", Aliases: []string{"token"}, Short: "Put and inspect OAuth tokens"}
	cmd.AddCommand(a.tokenPutCommand(),
		&cobra.Command{
			Use: "list [CONNECTION]", Short: "List tokens and their status (never their secrets)", Args: cobra.MaximumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				req := &adminv1.ListTokensRequest{}
				if len(args) == 1 {
					req.Connection = args[0]
				}
				resp := &adminv1.ListTokensResponse{}
				err := eachPage(func(token string) (string, error) {
					req.PageToken = token
					page, err := a.admin.ListTokens(cmd.Context(), req)
					resp.Tokens = append(resp.Tokens, page.GetTokens()...)
					return page.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				return a.print(resp, "ID\tCONNECTION\tORG\tENTITY\tSTATUS\tEXPIRES\tLAST REFRESH\tNEXT REFRESH\tREFRESHABLE\tLAST ERROR", func(add func(...any)) {
					for _, t := range resp.GetTokens() {
						add(t.GetId(), t.GetConnection(), orgCell(t.GetOrgId()), t.GetEntityId(), t.GetStatus(), t.GetExpiresAt(),
							t.GetLastRefreshedAt(), t.GetNextRefreshAt(), t.GetHasRefreshToken(), t.GetLastError())
					}
				})
			},
		},
		&cobra.Command{
			Use: "delete ID", Short: "Delete a token", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				resp, err := a.admin.DeleteToken(cmd.Context(), &adminv1.DeleteTokenRequest{Id: args[0]})
				if err != nil {
					return err
				}
				return a.print(resp, "DELETED", func(add func(...any)) { add(args[0]) })
			},
		},
	)
	return cmd
}

func (a *app) tokenPutCommand() *cobra.Command {
	var req adminv1.PutTokenRequest
	var global bool
	var accessFile, refreshFile string
	var expiresIn time.Duration
	cmd := &cobra.Command{
		Use:   "put CONNECTION (--org ORG | --global) --access-token-file FILE",
		Short: "Store a token for one organization or the global scope",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Connection = args[0]
			if global == (req.OrgId != "") {
				return errors.New("give exactly one of --org ORG or --global")
			}
			var err error
			if req.AccessToken, err = readSecret(a.in, accessFile); err != nil {
				return err
			}
			if refreshFile != "" {
				if req.RefreshToken, err = readSecret(a.in, refreshFile); err != nil {
					return err
				}
			}
			if expiresIn > 0 {
				req.ExpiresAt = timestamppb.New(time.Now().Add(expiresIn))
			}
			resp, err := a.admin.PutToken(cmd.Context(), &req)
			if err != nil {
				return err
			}
			t := resp.GetToken()
			return a.print(resp, "ID\tCONNECTION\tORG\tSTATUS\tEXPIRES\tVERSION", func(add func(...any)) {
				add(t.GetId(), t.GetConnection(), orgCell(t.GetOrgId()), t.GetStatus(), t.GetExpiresAt(), t.GetVersion())
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.OrgId, "org", "", "organization the token belongs to")
	f.BoolVar(&global, "global", false, "the platform-wide token")
	f.StringVar(&accessFile, "access-token-file", "", "file holding the access token, - for stdin (required)")
	f.StringVar(&refreshFile, "refresh-token-file", "", "file holding the refresh token")
	f.DurationVar(&expiresIn, "expires-in", 0, "the access token expires this long from now (0: no expiry known)")
	f.StringSliceVar(&req.Scopes, "scope", nil, "granted scope (repeat)")
	_ = cmd.MarkFlagRequired("access-token-file")
	return cmd
}

// orgCell is a token's organization in a table: the global token has none.
func orgCell(org string) string {
	if org == "" {
		return "(global)"
	}
	return org
}
