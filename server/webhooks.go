package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
	"github.com/bifrost/integrations/internal/textclip"
	"github.com/bifrost/integrations/store"
	"github.com/bifrost/integrations/webhook"
)

func (h *adminService) CreateWebhook(ctx context.Context, req *adminv1.CreateWebhookRequest) (*adminv1.CreateWebhookResponse, error) {
	var v violations
	v.webhookURL("url", req.GetUrl())
	types := v.eventTypes("event_types", req.GetEventTypes())
	v.text("description", req.GetDescription(), maxTextLen)
	if err := v.err(); err != nil {
		return nil, err
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return nil, err
	}
	w, err := h.s.store.CreateWebhook(ctx, store.Webhook{URL: req.GetUrl(), EventTypes: types, Description: req.GetDescription(), Secret: secret})
	if err != nil {
		return nil, err
	}
	return &adminv1.CreateWebhookResponse{Webhook: webhookProto(w), Secret: secret}, nil
}

// webhookURL checks an endpoint's URL as it will be called: absolute http or
// https, no credentials, and one Go's HTTP client will send a request to.
func (v *violations) webhookURL(field, raw string) {
	if raw == "" {
		v.add(field, "is required")
		return
	}
	u, err := url.Parse(raw)
	if err == nil {
		_, err = http.NewRequest(http.MethodPost, raw, nil)
	}
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		v.add(field, "must be an absolute http or https URL without credentials or fragment")
	}
	v.text(field, raw, maxTextLen)
}

// eventTypes checks a list of event types; duplicates are dropped. A list
// longer than there are types is refused whole.
func (v *violations) eventTypes(field string, given []string) []store.EventType {
	if len(given) > len(store.EventTypes) {
		v.add(field, fmt.Sprintf("lists %d types; there are %d: %v", len(given), len(store.EventTypes), store.EventTypes))
		return nil
	}
	var types []store.EventType
	for i, t := range given {
		if !slices.Contains(store.EventTypes, store.EventType(t)) {
			v.add(fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("%q is not an event type; one of %v", textclip.Clip(t, 64), store.EventTypes))
			continue
		}
		if !slices.Contains(types, store.EventType(t)) {
			types = append(types, store.EventType(t))
		}
	}
	return types
}

func (h *adminService) ListWebhooks(ctx context.Context, req *adminv1.ListWebhooksRequest) (*adminv1.ListWebhooksResponse, error) {
	var v violations
	page := v.page(req.GetPageSize(), req.GetPageToken())
	if err := v.err(); err != nil {
		return nil, err
	}
	list, err := h.s.store.Webhooks(ctx, page)
	if err != nil {
		return nil, err
	}
	items, next, err := pageOf(page, list, func(w store.Webhook) string { return w.ID }, infallible(webhookProto))
	return &adminv1.ListWebhooksResponse{Webhooks: items, NextPageToken: next}, err
}

func (h *adminService) DeleteWebhook(ctx context.Context, req *adminv1.DeleteWebhookRequest) (*adminv1.DeleteWebhookResponse, error) {
	if err := requireID(req.GetId()); err != nil {
		return nil, err
	}
	return &adminv1.DeleteWebhookResponse{}, h.s.store.DeleteWebhook(ctx, req.GetId())
}

func (h *adminService) SendTestWebhook(ctx context.Context, req *adminv1.SendTestWebhookRequest) (*adminv1.SendTestWebhookResponse, error) {
	if err := requireID(req.GetId()); err != nil {
		return nil, err
	}
	d, err := h.s.store.SendTestMessage(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &adminv1.SendTestWebhookResponse{Delivery: deliveryProto(d)}, nil
}

func (h *adminService) ListWebhookDeliveries(ctx context.Context, req *adminv1.ListWebhookDeliveriesRequest) (*adminv1.ListWebhookDeliveriesResponse, error) {
	var v violations
	v.id("webhook_id", req.GetWebhookId())
	page := v.page(req.GetPageSize(), req.GetPageToken())
	if err := v.err(); err != nil {
		return nil, err
	}
	list, err := h.s.store.Deliveries(ctx, req.GetWebhookId(), page)
	if err != nil {
		return nil, err
	}
	items, next, err := pageOf(page, list, func(d store.Delivery) string { return d.ID }, infallible(deliveryProto))
	return &adminv1.ListWebhookDeliveriesResponse{Deliveries: items, NextPageToken: next}, err
}

func (h *adminService) RedeliverWebhook(ctx context.Context, req *adminv1.RedeliverWebhookRequest) (*adminv1.RedeliverWebhookResponse, error) {
	var v violations
	v.id("delivery_id", req.GetDeliveryId())
	if err := v.err(); err != nil {
		return nil, err
	}
	d, err := h.s.store.Redeliver(ctx, req.GetDeliveryId())
	if err != nil {
		return nil, err
	}
	return &adminv1.RedeliverWebhookResponse{Delivery: deliveryProto(d)}, nil
}

func webhookProto(w store.Webhook) *adminv1.Webhook {
	types := make([]string, len(w.EventTypes))
	for i, t := range w.EventTypes {
		types[i] = string(t)
	}
	return &adminv1.Webhook{Id: w.ID, Url: w.URL, EventTypes: types, Description: w.Description, CreateTime: timestamppb.New(w.CreatedAt)}
}

var deliveryStatuses = map[store.DeliveryStatus]adminv1.DeliveryStatus{
	store.DeliveryPending:   adminv1.DeliveryStatus_DELIVERY_STATUS_PENDING,
	store.DeliveryDelivered: adminv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED,
	store.DeliveryFailed:    adminv1.DeliveryStatus_DELIVERY_STATUS_FAILED,
}

func deliveryProto(d store.Delivery) *adminv1.WebhookDelivery {
	out := &adminv1.WebhookDelivery{
		Id: d.ID, WebhookId: d.WebhookID, MessageId: d.MessageID, EventType: d.EventType, EventPosition: d.EventPosition.Int64,
		Status: deliveryStatuses[d.Status], Attempts: int32(d.Attempts), NextAttemptTime: timestamppb.New(d.NextAttemptAt),
		LastStatusCode: int32(d.LastStatusCode), LastError: d.LastError, CreateTime: timestamppb.New(d.CreatedAt),
	}
	if d.LastAttemptAt.Valid {
		out.LastAttemptTime = timestamppb.New(d.LastAttemptAt.Time)
	}
	return out
}
