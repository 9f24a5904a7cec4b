// Package periodic runs the service's housekeeping: a task now and at every
// interval after, until its context ends.
package periodic

import (
	"context"
	"time"
)

// Run calls task at once, then every interval after the previous call ended,
// until ctx ends. Tasks report their own errors: a failed run is retried at
// the next interval.
func Run(ctx context.Context, interval time.Duration, task func(context.Context)) {
	for {
		task(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
