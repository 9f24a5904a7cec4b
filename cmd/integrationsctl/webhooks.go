package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
)

func (a *app) webhooksCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "webhooks", Aliases: []string{"webhook"}, Short: "Webhook endpoints that receive events, signed per Standard Webhooks"}
	var create adminv1.CreateWebhookRequest
	createCmd := &cobra.Command{
		Use: "create URL [--type TYPE]...", Short: "Subscribe an endpoint; its signing secret is shown once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			create.Url = args[0]
			resp, err := a.admin.CreateWebhook(cmd.Context(), &create)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.print(resp, "", nil)
			}
			_, err = fmt.Fprintf(a.out, "%s\n\nWebhook %s. Give the secret above to the receiver now: it is not shown again.\n", resp.GetSecret(), resp.GetWebhook().GetId())
			return err
		},
	}
	createCmd.Flags().StringSliceVar(&create.EventTypes, "type", nil, "event type to send (repeat; default: all), e.g. token.needs_reauth")
	createCmd.Flags().StringVar(&create.Description, "description", "", "what the endpoint is for")
	deliveriesCmd := &cobra.Command{
		Use: "deliveries WEBHOOK_ID", Short: "List an endpoint's recent deliveries, newest first", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := a.admin.ListWebhookDeliveries(cmd.Context(), &adminv1.ListWebhookDeliveriesRequest{WebhookId: args[0], PageSize: 50})
			if err != nil {
				return err
			}
			return a.printDeliveries(resp, resp.GetDeliveries()...)
		},
	}
	cmd.AddCommand(createCmd, deliveriesCmd,
		&cobra.Command{
			Use: "list", Short: "List webhook endpoints (never their secrets)", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				resp := &adminv1.ListWebhooksResponse{}
				err := eachPage(func(token string) (string, error) {
					page, err := a.admin.ListWebhooks(cmd.Context(), &adminv1.ListWebhooksRequest{PageToken: token})
					resp.Webhooks = append(resp.Webhooks, page.GetWebhooks()...)
					return page.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				return a.print(resp, "ID\tURL\tEVENT TYPES\tDESCRIPTION\tCREATED", func(add func(...any)) {
					for _, w := range resp.GetWebhooks() {
						add(w.GetId(), w.GetUrl(), w.GetEventTypes(), w.GetDescription(), w.GetCreateTime())
					}
				})
			},
		},
		&cobra.Command{
			Use: "delete WEBHOOK_ID", Short: "Remove an endpoint and its deliveries", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				resp, err := a.admin.DeleteWebhook(cmd.Context(), &adminv1.DeleteWebhookRequest{Id: args[0]})
				if err != nil {
					return err
				}
				if a.output == "json" {
					return a.print(resp, "", nil)
				}
				_, err = fmt.Fprintf(a.out, "Deleted webhook %s.\n", args[0])
				return err
			},
		},
		&cobra.Command{
			Use: "test WEBHOOK_ID", Short: "Queue a webhook.test message to the endpoint", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				resp, err := a.admin.SendTestWebhook(cmd.Context(), &adminv1.SendTestWebhookRequest{Id: args[0]})
				if err != nil {
					return err
				}
				return a.printDeliveries(resp, resp.GetDelivery())
			},
		},
		&cobra.Command{
			Use: "redeliver DELIVERY_ID", Short: "Send a delivery again now, under the same webhook-id", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				resp, err := a.admin.RedeliverWebhook(cmd.Context(), &adminv1.RedeliverWebhookRequest{DeliveryId: args[0]})
				if err != nil {
					return err
				}
				return a.printDeliveries(resp, resp.GetDelivery())
			},
		},
	)
	return cmd
}

func (a *app) printDeliveries(resp proto.Message, deliveries ...*adminv1.WebhookDelivery) error {
	return a.print(resp, "ID\tMESSAGE\tTYPE\tSTATUS\tATTEMPTS\tLAST CODE\tLAST ERROR\tNEXT ATTEMPT\tCREATED", func(add func(...any)) {
		for _, d := range deliveries {
			add(d.GetId(), d.GetMessageId(), d.GetEventType(), d.GetStatus(), d.GetAttempts(), d.GetLastStatusCode(), d.GetLastError(), d.GetNextAttemptTime(), d.GetCreateTime())
		}
	})
}
