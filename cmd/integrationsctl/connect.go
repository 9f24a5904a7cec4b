package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
)

// connectTarget is the --org / --global pair of connect and disconnect.
type connectTarget struct {
	org    string
	global bool
}

func (c *connectTarget) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.org, "org", "", "the organization whose account to connect")
	cmd.Flags().BoolVar(&c.global, "global", false, "the platform-wide account")
}

func (c connectTarget) check() error {
	if c.global == (c.org != "") {
		return errors.New("give exactly one of --org ORG or --global")
	}
	return nil
}

func (c connectTarget) String() string {
	if c.global {
		return "the global scope"
	}
	return c.org
}

func (a *app) connectCommand() *cobra.Command {
	var target connectTarget
	var mapping, entity string
	var timeout time.Duration
	var open bool
	cmd := &cobra.Command{
		Use:   "connect CONNECTION (--org ORG | --global) [--mapping INTEGRATION]",
		Short: "Connect an OAuth account: a browser sign-in for authorization_code, at once for client_credentials",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := target.check(); err != nil {
				return err
			}
			ctx := cmd.Context()
			conn, err := a.admin.GetConnection(ctx, &adminv1.GetConnectionRequest{Name: args[0]})
			if err != nil {
				return err
			}
			if conn.GetConnection().GetFlow() == adminv1.Flow_FLOW_CLIENT_CREDENTIALS {
				resp, err := a.admin.ConnectClientCredentials(ctx, &adminv1.ConnectClientCredentialsRequest{
					Connection: args[0], OrgId: target.org, Global: target.global, EntityId: entity})
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(a.out, "Connected %s for %s: token %s, expires %s.\n", args[0], target, resp.GetToken().GetId(), cell(resp.GetToken().GetExpiresAt()))
				return err
			}
			started := time.Now()
			resp, err := a.admin.StartAuthorization(ctx, &adminv1.StartAuthorizationRequest{
				Connection: args[0], OrgId: target.org, Global: target.global, MappingIntegration: mapping})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Open this link in a browser to connect %s for %s (valid until %s):\n\n  %s\n\nWaiting for the sign-in...\n",
				args[0], target, cell(resp.GetExpireTime()), resp.GetAuthorizationUrl())
			if open {
				openBrowser(resp.GetAuthorizationUrl())
			}
			return a.waitConnected(ctx, args[0], target, started, timeout)
		},
	}
	target.flags(cmd)
	cmd.Flags().StringVar(&mapping, "mapping", "", "make the organization's mapping of this integration use the token")
	cmd.Flags().StringVar(&entity, "entity-id", "", "client_credentials: the entity whose ID fills {entity_id} in the token URL")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait for the sign-in")
	cmd.Flags().BoolVar(&open, "open", os.Getenv("DISPLAY") != "" || os.Getenv("BROWSER") != "", "open the link in a browser (default when one is available)")
	return cmd
}

// openBrowser tries the desktop's browser; the printed link is the fallback.
func openBrowser(url string) {
	for _, opener := range []string{os.Getenv("BROWSER"), "xdg-open"} {
		if opener == "" {
			continue
		}
		if err := exec.Command(opener, url).Start(); err == nil {
			return
		}
	}
}

// waitConnected polls until the token of (connection, target) was stored
// CONNECTED after started.
func (a *app) waitConnected(ctx context.Context, connection string, target connectTarget, started time.Time, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		tok, err := a.findToken(ctx, connection, target)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if tok != nil && tok.GetStatus() == adminv1.TokenStatus_TOKEN_STATUS_CONNECTED && !tok.GetUpdateTime().AsTime().Before(started.Add(-time.Second)) {
			_, err := fmt.Fprintf(a.out, "Connected %s for %s: token %s, expires %s.\n", connection, target, tok.GetId(), cell(tok.GetExpiresAt()))
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no sign-in completed within %s; run connect again for a new link", timeout)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// findToken returns the token of (connection, target), or nil.
func (a *app) findToken(ctx context.Context, connection string, target connectTarget) (*adminv1.Token, error) {
	var found *adminv1.Token
	err := eachPage(func(token string) (string, error) {
		page, err := a.admin.ListTokens(ctx, &adminv1.ListTokensRequest{Connection: connection, PageToken: token})
		for _, t := range page.GetTokens() {
			if t.GetOrgId() == target.org && t.GetEntityId() == "" {
				found = t
			}
		}
		return page.GetNextPageToken(), err
	})
	return found, err
}

func (a *app) disconnectCommand() *cobra.Command {
	var target connectTarget
	cmd := &cobra.Command{
		Use:   "disconnect CONNECTION (--org ORG | --global)",
		Short: "Delete the token of a connection for an organization or the global scope",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := target.check(); err != nil {
				return err
			}
			tok, err := a.findToken(cmd.Context(), args[0], target)
			if err != nil {
				return err
			}
			if tok == nil {
				return fmt.Errorf("%s has no token for %s", args[0], target)
			}
			if _, err := a.admin.DeleteToken(cmd.Context(), &adminv1.DeleteTokenRequest{Id: tok.GetId()}); err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.out, "Disconnected %s for %s.\n", args[0], target)
			return err
		},
	}
	target.flags(cmd)
	return cmd
}
