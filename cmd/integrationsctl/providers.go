package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	"github.com/bifrost/integrations/providers"
)

func (a *app) providersCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use: "providers", Aliases: []string{"provider"},
		Short: "The catalog of OAuth providers that connections create --provider fills from",
		Long: `The provider catalog ships with the service: for each system it knows, the
authorization and token URLs, default scopes, token auth method and extra token
parameters that "connections create NAME --provider PROVIDER" fills in, and the
documentation each entry was checked against. Needs neither a server nor a key.`,
	}
	cmd.AddCommand(
		&cobra.Command{
			Use: "list", Short: "List the providers, with the documentation each was checked against", Args: cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				if err := a.checkOutput(); err != nil {
					return err
				}
				all := providers.All()
				out := providerList{Providers: make([]providerJSON, len(all))}
				for i, p := range all {
					out.Providers[i] = toProviderJSON(p)
				}
				return a.printValue(out, "NAME\tFLOW\tTOKEN URL\tDOCS", func(add func(...any)) {
					for _, p := range out.Providers {
						add(p.Name, p.Flow, p.TokenURL, p.Docs)
					}
				})
			},
		},
		&cobra.Command{
			Use: "get NAME", Short: "Show what a provider fills in, where it was checked and what to know", Args: cobra.ExactArgs(1),
			RunE: func(_ *cobra.Command, args []string) error {
				if err := a.checkOutput(); err != nil {
					return err
				}
				p, err := providers.Lookup(args[0])
				if err != nil {
					return err
				}
				out := toProviderJSON(p)
				return a.printValue(out, "FIELD\tVALUE", func(add func(...any)) {
					add("name", out.Name)
					add("title", out.Title)
					add("flow", out.Flow)
					add("authorization url", out.AuthorizationURL)
					add("token url", out.TokenURL)
					add("scopes", out.Scopes)
					add("audience", out.Audience)
					add("token auth method", strings.ToLower(out.TokenAuthMethod))
					for _, k := range slices.Sorted(maps.Keys(out.TokenParams)) {
						add("token param "+k, out.TokenParams[k])
					}
					if h := out.Host; h != nil {
						add("host", h.Description)
						add("host example", h.Example)
						add("host default", h.Default)
					}
					for _, d := range out.Docs {
						add("docs", d)
					}
					add("note", out.Note)
				})
			},
		},
	)
	return cmd
}

// providerList and providerJSON are what providers list and get print with
// -o json, in the shape of the service's answers (jsonShape): fields in the
// order of their JSON names, every field present, enums by their short names.
type providerList struct {
	Providers []providerJSON `json:"providers"`
}

type providerJSON struct {
	Audience         string            `json:"audience"`
	AuthorizationURL string            `json:"authorizationUrl"`
	Docs             []string          `json:"docs"`
	Flow             string            `json:"flow"`
	Host             *hostJSON         `json:"host"`
	Name             string            `json:"name"`
	Note             string            `json:"note"`
	Scopes           []string          `json:"scopes"`
	Title            string            `json:"title"`
	TokenAuthMethod  string            `json:"tokenAuthMethod"`
	TokenParams      map[string]string `json:"tokenParams"`
	TokenURL         string            `json:"tokenUrl"`
}

type hostJSON struct {
	Default     string `json:"default"`
	Description string `json:"description"`
	Example     string `json:"example"`
}

func toProviderJSON(p providers.Provider) providerJSON {
	out := providerJSON{
		Audience: p.Audience, AuthorizationURL: p.AuthorizationURL, Docs: p.Docs, Name: p.Name, Note: p.Note,
		Scopes: p.Scopes, Title: p.Title, TokenParams: p.TokenParams, TokenURL: p.TokenURL,
		Flow:            shortEnum(adminv1.Flow_value, "FLOW_", p.Flow),
		TokenAuthMethod: shortEnum(adminv1.TokenAuthMethod_value, "TOKEN_AUTH_METHOD_", p.TokenAuthMethod),
	}
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	if out.TokenParams == nil {
		out.TokenParams = map[string]string{}
	}
	if h := p.Host; h != nil {
		out.Host = &hostJSON{Default: h.Default, Description: h.Description, Example: h.Example}
	}
	return out
}

// shortEnum is a catalog value (authorization_code) as the enum's short name
// (AUTHORIZATION_CODE), the spelling integrationsctl prints for enums.
func shortEnum(values map[string]int32, prefix, v string) string {
	if _, ok := enumValue(values, prefix, v); !ok {
		return v
	}
	return strings.ToUpper(v)
}

// fromCatalog fills a connection being created from the catalog entry named
// by --provider: every field whose flag was not given explicitly takes the
// catalog's value (a flag given replaces that field whole), and {host} in the
// URLs is filled from --host or the provider's default host. The client ID
// and secret never come from the catalog.
func fromCatalog(cmd *cobra.Command, c *adminv1.Connection, flow, authMethod *string, name, host string) error {
	flags := cmd.Flags()
	if name == "" {
		if flags.Changed("host") {
			return errors.New("--host fills {host} in a --provider's URLs; without --provider, give --authorization-url and --token-url whole")
		}
		return nil
	}
	p, err := providers.Lookup(name)
	if err != nil {
		return fmt.Errorf("--provider: %w", err)
	}
	fill := func(flag string, apply func()) {
		if !flags.Changed(flag) {
			apply()
		}
	}
	fill("flow", func() { *flow = p.Flow })
	fill("authorization-url", func() { c.AuthorizationUrl = p.AuthorizationURL })
	fill("token-url", func() { c.TokenUrl = p.TokenURL })
	fill("scope", func() { c.Scopes = p.Scopes })
	fill("audience", func() { c.Audience = p.Audience })
	fill("token-auth-method", func() { *authMethod = p.TokenAuthMethod })
	fill("token-param", func() { c.TokenParams = p.TokenParams })

	if !strings.Contains(c.AuthorizationUrl+c.TokenUrl, providers.HostPlaceholder) {
		if flags.Changed("host") {
			return fmt.Errorf("--host: the URLs of provider %q (as given) hold no {host}, so a host would change nothing", name)
		}
		return nil
	}
	switch {
	case flags.Changed("host"):
	case p.Host != nil && p.Host.Default != "":
		host = p.Host.Default
	case p.Host != nil:
		return fmt.Errorf("provider %q needs --host: %s (e.g. --host %s); or give --authorization-url and --token-url whole", name, p.Host.Description, p.Host.Example)
	default:
		return fmt.Errorf("provider %q needs --host to fill {host} in the URLs given", name)
	}
	h, err := providers.NormalizeHost(host)
	if err != nil {
		return fmt.Errorf("--host: %w", err)
	}
	c.AuthorizationUrl = providers.FillHost(c.AuthorizationUrl, h)
	c.TokenUrl = providers.FillHost(c.TokenUrl, h)
	return nil
}
