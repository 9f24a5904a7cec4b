package main

import (
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
)

func (a *app) auditCommand() *cobra.Command {
	var req adminv1.ListAuditEventsRequest
	var since time.Duration
	var limit int
	cmd := &cobra.Command{
		Use:   "audit [--since 24h] [--org ORG] [--integration NAME] [--key-id ID]",
		Short: "Show audit events, newest first: secret reads, changes, denied calls, refreshes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since > 0 {
				req.StartTime = timestamppb.New(time.Now().Add(-since))
			}
			resp := &adminv1.ListAuditEventsResponse{}
			err := eachPage(func(token string) (string, error) {
				req.PageToken = token
				req.PageSize = int32(min(limit-len(resp.Events), 1000))
				page, err := a.admin.ListAuditEvents(cmd.Context(), &req)
				resp.Events = append(resp.Events, page.GetEvents()...)
				if len(resp.Events) >= limit {
					return "", err
				}
				return page.GetNextPageToken(), err
			})
			if err != nil {
				return err
			}
			return a.print(resp, "TIME\tOUTCOME\tMETHOD\tINTEGRATION\tORG\tKEY\tROLE\tREQUEST\tDETAIL", func(add func(...any)) {
				for _, e := range resp.GetEvents() {
					add(e.GetTime(), e.GetOutcome(), e.GetMethod(), e.GetIntegration(), e.GetOrgId(), e.GetApiKeyId(), e.GetRole(), e.GetRequestId(), e.GetDetail())
				}
			})
		},
	}
	f := cmd.Flags()
	f.DurationVar(&since, "since", 0, "only events this recent")
	f.StringVar(&req.OrgId, "org", "", "only this organization's events")
	f.StringVar(&req.Integration, "integration", "", "only this integration's events")
	f.StringVar(&req.ApiKeyId, "key-id", "", "only events of this API key")
	f.IntVar(&limit, "limit", 100, "at most this many events")
	return cmd
}
