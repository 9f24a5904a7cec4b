package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/bifrost/integrations/audit"
	"github.com/bifrost/integrations/store"
)

// newRegistry holds everything /metrics shows: Go and process figures, database
// pools, tokens by status, the audit queue and the event log; the gRPC
// server, the refresher and the webhook dispatcher add theirs.
func newRegistry(st *store.Store, recorder *audit.Recorder) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	read, write := st.Pools()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(read, "read"),
		collectors.NewDBStatsCollector(write, "write"),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "bifrost_audit_queue_depth",
			Help: "Audit events waiting to be written.",
		}, func() float64 { return float64(recorder.Depth()) }),
		tokenStatusCollector{st: st},
		eventLogCollector{st: st},
		// Contention the store absorbed: calls did not fail for it, but
		// a rising no_slot means PostgreSQL's connections are overbooked
		// (docs/operations.md, sizing the pools).
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "bifrost_db_retries_total", Help: dbRetriesHelp, ConstLabels: prometheus.Labels{"reason": "conflict"},
		}, func() float64 { return float64(st.Retries().Conflicts) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "bifrost_db_retries_total", Help: dbRetriesHelp, ConstLabels: prometheus.Labels{"reason": "no_slot"},
		}, func() float64 { return float64(st.Retries().NoSlot) }),
	)
	return reg
}

const dbRetriesHelp = "Database operations the store ran again: write transactions after a serialization failure or deadlock (conflict), connections PostgreSQL refused for want of a slot (no_slot)."

var tokensDesc = prometheus.NewDesc("bifrost_tokens", "Stored OAuth tokens by status.", []string{"status"}, nil)

// tokenStatusCollector counts tokens when scraped, so the figure is never stale.
type tokenStatusCollector struct{ st *store.Store }

func (c tokenStatusCollector) Describe(ch chan<- *prometheus.Desc) { ch <- tokensDesc }

func (c tokenStatusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.st.TokenStatusCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(tokensDesc, err)
		return
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(tokensDesc, prometheus.GaugeValue, float64(n), string(status))
	}
}

var eventsDesc = prometheus.NewDesc("bifrost_events_written_total", "Events written to the event log by every replica: the log's last position.", nil, nil)

// eventLogCollector reads the event log's position when scraped; a failed
// read is reported, never as a counter going back to 0.
type eventLogCollector struct{ st *store.Store }

func (c eventLogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- eventsDesc }

func (c eventLogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	head, err := c.st.EventHead(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(eventsDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.CounterValue, float64(head))
}
