package testutil

import (
	"sync"
	"time"
)

// Clock is a clock a test moves by hand, so that waits such as a refresh
// backoff are crossed exactly when the test says and never by a slow machine.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts at the wall clock's present, so tokens stamped with
// time.Now() by the test and the clock agree.
func NewClock() *Clock { return &Clock{now: time.Now()} }

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
