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

// pollInterval is how often connect asks what became of its sign-in: a
// denial is reported within it.
const pollInterval = 500 * time.Millisecond

func (a *app) connectCommand() *cobra.Command {
	var target connectTarget
	var mapping, entity string
	var timeout time.Duration
	var open bool
	cmd := &cobra.Command{
		Use:   "connect CONNECTION (--org ORG | --global) [--mapping INTEGRATION] [--entity-id ID]",
		Short: "Connect an OAuth account: a browser sign-in for authorization_code, at once for client_credentials",
		Long: `Connect an OAuth account.

For a client_credentials connection the service fetches the token at once.

For an authorization_code connection, connect prints the redirect URI to
register at the provider and a link to sign in with (opened in a browser
where one is available), then waits for that sign-in, and that sign-in
only: it reports the token it stored, or why the provider denied it or it
failed, as soon as the person is back. Another change of the
organization's token meanwhile (a refresh, another connect) is not taken
for it. Ctrl-C stops the wait; the link stays valid until it expires.

With --entity-id, the entity fills {entity_id} in the connection's URLs
(a tenant): for client_credentials the token is fetched for it; for
authorization_code it needs --mapping, and the organization's mapping is
bound to it once connected, so that the token is refreshed where it was
issued. Connections whose URLs do not use {entity_id} refuse it.`,
		Args: cobra.ExactArgs(1),
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
				return a.connectClientCredentials(ctx, args[0], target, entity)
			}
			resp, err := a.admin.StartAuthorization(ctx, &adminv1.StartAuthorizationRequest{
				Connection: args[0], OrgId: target.org, Global: target.global, MappingIntegration: mapping, EntityId: entity})
			if err != nil {
				return err
			}
			// With -o json, stdout is for the outcome alone.
			progress := a.out
			if a.output == "json" {
				progress = a.errOut
			}
			fmt.Fprintf(progress, "Connecting %s for %s. The provider must accept this redirect URI for client %s (register it there once):\n\n  %s\n\n",
				cell(args[0]), cell(target.String()), cell(conn.GetConnection().GetClientId()), cell(resp.GetRedirectUri()))
			fmt.Fprintf(progress, "Open this link in a browser to sign in (valid until %s):\n\n  %s\n\nWaiting for the sign-in (Ctrl-C to stop)...\n",
				cell(resp.GetExpireTime()), cell(resp.GetAuthorizationUrl()))
			if open {
				openBrowser(resp.GetAuthorizationUrl())
			}
			return a.waitForSignIn(ctx, resp, timeout)
		},
	}
	target.flags(cmd)
	cmd.Flags().StringVar(&mapping, "mapping", "", "make the organization's mapping of this integration use the token")
	cmd.Flags().StringVar(&entity, "entity-id", "", "the entity (tenant) that fills {entity_id} in the connection's URLs; authorization_code: with --mapping, which is bound to it")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait for the sign-in")
	cmd.Flags().BoolVar(&open, "open", os.Getenv("DISPLAY") != "" || os.Getenv("BROWSER") != "", "open the link in a browser (default when one is available)")
	return cmd
}

func (a *app) connectClientCredentials(ctx context.Context, connection string, target connectTarget, entity string) error {
	resp, err := a.admin.ConnectClientCredentials(ctx, &adminv1.ConnectClientCredentialsRequest{
		Connection: connection, OrgId: target.org, Global: target.global, EntityId: entity})
	if err != nil {
		return err
	}
	if a.output == "json" {
		return a.writeJSON(resp.GetToken())
	}
	_, err = fmt.Fprintf(a.out, "Connected %s for %s: token %s, expires %s.\n", cell(connection), cell(target.String()), cell(resp.GetToken().GetId()), cell(resp.GetToken().GetExpiresAt()))
	return err
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

// waitForSignIn asks what became of the authorization started until the
// callback has settled it, and reports that: the token this sign-in stored,
// or why it was denied or failed. Nothing else that happens to the
// organization's token counts.
func (a *app) waitForSignIn(ctx context.Context, started *adminv1.StartAuthorizationResponse, timeout time.Duration) error {
	wait, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		resp, err := a.admin.GetAuthorization(wait, &adminv1.GetAuthorizationRequest{State: started.GetState()})
		switch {
		case ctx.Err() != nil:
			return &interruptedError{what: fmt.Sprintf("no longer waiting for the sign-in; the link stays valid until %s", cell(started.GetExpireTime()))}
		case wait.Err() != nil:
			return fmt.Errorf("no sign-in completed within %s; run connect again for a new link", timeout)
		case err != nil:
			return err
		}
		if done, err := a.reportSignIn(ctx, resp.GetAuthorization()); done {
			return err
		}
		select {
		case <-wait.Done():
		case <-time.After(pollInterval):
		}
	}
}

// reportSignIn prints the outcome of an authorization that is settled, and
// says whether it was (done), with the error a failed one ends the command
// with.
func (a *app) reportSignIn(ctx context.Context, auth *adminv1.Authorization) (done bool, err error) {
	status := auth.GetStatus()
	if status == adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_PENDING {
		return false, nil
	}
	if a.output == "json" {
		if err := a.writeJSON(auth); err != nil {
			return true, err
		}
	}
	target := connectTarget{org: auth.GetOrgId(), global: auth.GetOrgId() == ""}
	switch status {
	case adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_CONNECTED:
		if a.output == "json" {
			return true, nil
		}
		expires := "at a time the provider did not say"
		// The token may have changed or gone since; its ID is what this
		// sign-in stored, whatever the expiry now.
		if tok, err := a.admin.GetToken(ctx, &adminv1.GetTokenRequest{Id: auth.GetTokenId()}); err == nil && tok.GetToken().GetExpiresAt() != nil {
			expires = cell(tok.GetToken().GetExpiresAt())
		}
		_, err := fmt.Fprintf(a.out, "Connected %s for %s: token %s, expires %s.\n", cell(auth.GetConnection()), cell(target.String()), cell(auth.GetTokenId()), expires)
		return true, err
	case adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_DENIED:
		return true, fmt.Errorf("the sign-in was denied: %s", cell(auth.GetDetail()))
	case adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_FAILED:
		return true, fmt.Errorf("the sign-in failed: %s", cell(auth.GetDetail()))
	case adminv1.AuthorizationStatus_AUTHORIZATION_STATUS_EXPIRED:
		return true, fmt.Errorf("the link expired at %s before anyone signed in; run connect again for a new link", cell(auth.GetExpireTime()))
	}
	return true, fmt.Errorf("the sign-in ended as %s", cell(status))
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
			if a.output == "json" {
				return a.writeJSON(tok)
			}
			_, err = fmt.Fprintf(a.out, "Disconnected %s for %s.\n", cell(args[0]), cell(target.String()))
			return err
		},
	}
	target.flags(cmd)
	return cmd
}
