// Command sync_users is the SDK page's "Usage Pattern" in Go: get the
// Microsoft_Graph integration for this organization and list its users with the
// OAuth token the service hands out.
//
//	BIFROST_ADDR=127.0.0.1:50051 BIFROST_API_KEY=... BIFROST_ORG_ID=org-123 \
//	GRAPH_URL=http://127.0.0.1:9999/v1.0 go run ./examples/sync_users
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/bifrost/integrations/client"
)

func main() {
	c, err := client.New(getenv("BIFROST_ADDR", "127.0.0.1:50051"),
		client.WithAPIKey(os.Getenv("BIFROST_API_KEY")),
		client.WithInsecure(),
		client.WithOrg(os.Getenv("BIFROST_ORG_ID")))
	if err != nil {
		fail(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	users, err := syncUsers(ctx, c, http.DefaultClient, getenv("GRAPH_URL", "https://graph.microsoft.com/v1.0"))
	if err != nil {
		fail(err)
	}
	out, _ := json.MarshalIndent(users, "", "  ")
	fmt.Println(string(out))
}

// syncUsers is the workflow: the integration, its token, one call to Graph.
func syncUsers(ctx context.Context, c *client.Client, httpClient *http.Client, graphURL string) (map[string]any, error) {
	msft, err := c.Get(ctx, "Microsoft_Graph")
	if err != nil {
		return nil, err
	}
	if msft == nil || msft.OAuth == nil {
		return nil, errors.New("integration not configured")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, graphURL+"/users", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+msft.OAuth.AccessToken)
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("graph answered %s", resp.Status)
	}
	var users map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&users); err != nil {
		return nil, fmt.Errorf("decoding graph response: %w", err)
	}
	return users, nil
}

func getenv(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sync_users:", err)
	os.Exit(1)
}
