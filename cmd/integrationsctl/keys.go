package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
)

func (a *app) keysCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Aliases: []string{"key"}, Short: "API keys (create, list, revoke) and data encryption keys (rotate, encryption, retire)"}
	cmd.AddCommand(a.encryptionCommands()...)
	var req adminv1.CreateApiKeyRequest
	var role string
	var expiresIn time.Duration
	create := &cobra.Command{
		Use: "create --role admin|worker|worker_all_orgs [--org ORG]", Short: "Create an API key; its secret is shown once", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, ok := enumValue(adminv1.Role_value, "ROLE_", role)
			if !ok {
				return fmt.Errorf("--role must be admin, worker or worker_all_orgs, not %q", role)
			}
			req.Role = adminv1.Role(v)
			if expiresIn > 0 {
				req.ExpireTime = timestamppb.New(time.Now().Add(expiresIn))
			}
			resp, err := a.admin.CreateApiKey(cmd.Context(), &req)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.print(resp, "", nil)
			}
			_, err = fmt.Fprintf(a.out, "%s\n\nKey %s (%s). Store the secret above now: it is not shown again.\n",
				resp.GetSecret(), resp.GetApiKey().GetId(), cell(resp.GetApiKey().GetRole()))
			return err
		},
	}
	create.Flags().StringVar(&role, "role", "", "admin, worker (one organization) or worker_all_orgs")
	create.Flags().StringVar(&req.OrgId, "org", "", "the organization a worker key is bound to")
	create.Flags().StringVar(&req.Name, "name", "", "what the key is for")
	create.Flags().DurationVar(&expiresIn, "expires-in", 0, "the key stops working this long from now (0: never)")
	cmd.AddCommand(create,
		&cobra.Command{
			Use: "list", Short: "List API keys (never their secrets)", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				resp := &adminv1.ListApiKeysResponse{}
				err := eachPage(func(token string) (string, error) {
					page, err := a.admin.ListApiKeys(cmd.Context(), &adminv1.ListApiKeysRequest{PageToken: token})
					resp.ApiKeys = append(resp.ApiKeys, page.GetApiKeys()...)
					return page.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				return a.printKeys(resp, resp.GetApiKeys()...)
			},
		},
		&cobra.Command{
			Use: "revoke ID", Short: "Revoke an API key; it stops working on its next call", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				resp, err := a.admin.RevokeApiKey(cmd.Context(), &adminv1.RevokeApiKeyRequest{Id: args[0]})
				if err != nil {
					return err
				}
				return a.printKeys(resp, resp.GetApiKey())
			},
		},
	)
	return cmd
}

func (a *app) printKeys(resp proto.Message, keys ...*adminv1.ApiKey) error {
	return a.print(resp, "ID\tNAME\tROLE\tORG\tCREATED\tEXPIRES\tREVOKED", func(add func(...any)) {
		for _, k := range keys {
			add(k.GetId(), k.GetName(), k.GetRole(), k.GetOrgId(), k.GetCreateTime(), k.GetExpireTime(), k.GetRevokeTime())
		}
	})
}

// encryptionCommands are the data key commands under "keys": rotate, status,
// retire.
func (a *app) encryptionCommands() []*cobra.Command {
	return []*cobra.Command{
		{
			Use: "rotate", Short: "Add a data key and make it current; old values are re-encrypted in the background", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				resp, err := a.admin.RotateEncryptionKey(cmd.Context(), &adminv1.RotateEncryptionKeyRequest{})
				if err != nil {
					return err
				}
				return a.print(resp, "CURRENT DATA KEY", func(add func(...any)) { add(resp.GetKeyId()) })
			},
		},
		{
			Use: "encryption", Short: "Show the data keys, the master key wrapping each, how many values each seals, how many wait for re-encryption and which could not be decrypted", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				resp, err := a.admin.GetEncryptionStatus(cmd.Context(), &adminv1.GetEncryptionStatusRequest{})
				if err != nil {
					return err
				}
				err = a.print(resp, "KEY\tCURRENT\tMASTER KEY\tVALUES\tUNDECRYPTABLE\tCREATED\tSUPERSEDED", func(add func(...any)) {
					for _, k := range resp.GetKeys() {
						add(k.GetId(), k.GetCurrent(), k.GetMasterKeyId(), k.GetCiphertexts(), k.GetUndecryptable(), k.GetCreateTime(), k.GetSupersedeTime())
					}
				})
				if err != nil || a.output != "text" {
					return err
				}
				var b strings.Builder
				fmt.Fprintf(&b, "\n%d values wait for re-encryption to the current key.\n", resp.GetPending())
				if resp.GetUndecryptable() > 0 {
					fmt.Fprintf(&b, "%d values do not open and could not be re-encrypted; set each again or delete it before retiring its key:\n", resp.GetUndecryptable())
					for _, v := range resp.GetUndecryptableValues() {
						fmt.Fprintf(&b, "  %s.%s of row %s (key %d)\n", cell(v.GetTable()), cell(v.GetColumn()), cell(v.GetRowId()), v.GetKeyId())
					}
					if n := resp.GetUndecryptable() - int64(len(resp.GetUndecryptableValues())); n > 0 {
						fmt.Fprintf(&b, "  and %d more\n", n)
					}
				}
				_, err = io.WriteString(a.out, b.String())
				return err
			},
		},
		{
			Use: "retire KEY_ID", Short: "Delete a data key that seals nothing any more", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := strconv.ParseUint(args[0], 10, 32)
				if err != nil {
					return fmt.Errorf("KEY_ID %q is not a key number", args[0])
				}
				resp, err := a.admin.RetireEncryptionKey(cmd.Context(), &adminv1.RetireEncryptionKeyRequest{KeyId: uint32(id)})
				if err != nil {
					return err
				}
				return a.print(resp, "RETIRED", func(add func(...any)) { add(id) })
			},
		},
	}
}
