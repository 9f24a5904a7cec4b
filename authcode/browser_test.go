package authcode_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
)

const chromium = "/usr/bin/chromium"

// TestConnectInARealBrowser runs the whole connect in headless Chromium: the
// provider's consent page, the click, the redirect back to integrationsd's
// callback, its success page, and then the token in GetIntegration.
func TestConnectInARealBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing; .ci/run installs Debian's chromium", chromium)
		}
		t.Skipf("%s is missing (apt-get install chromium); skipping the browser test", chromium)
	}
	t.Parallel()
	f := newFixture(t)
	authURL := f.start(t, "org-browser")

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	err := chromedp.Do(ctx,
		chromedp.Navigate(authURL.String()),
		chromedp.WaitVisible(chromedp.ID("approve")),
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.ID("result")),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	text := func(id string) string {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
		if err != nil {
			t.Fatalf("reading #%s: %v", id, err)
		}
		return s
	}
	title, connection, org := text("result"), text("connection"), text("org")
	if title != "Connected" || connection != "graph" || org != "org-browser" {
		t.Fatalf("success page says %q, %q, %q", title, connection, org)
	}
	resp, err := f.api.GetIntegration(context.Background(), &integrationsv1.GetIntegrationRequest{Name: "Graph", OrgId: "org-browser"})
	if err != nil {
		t.Fatal(err)
	}
	if tok := resp.GetIntegration().GetOauth().GetAccessToken(); !f.provider.Valid(tok) {
		t.Fatalf("GetIntegration after the browser connect: token %q is not one the provider issued", tok)
	}
}
