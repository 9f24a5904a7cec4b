// Package schedule is when an OAuth token is refreshed: how long before its
// expiry, and what a token that came without an expiry is taken to live. The
// store records the schedule with every token it writes, the refresher reads
// it, and both take it from here.
package schedule

import "time"

// DefaultMargin is how close to expiry a token is refreshed before use, for a
// connection that does not say.
const DefaultMargin = 5 * time.Minute

// AssumedLifetime is how long a refreshable token that came without an expiry
// is taken to live, so that it is renewed rather than trusted forever.
const AssumedLifetime = time.Hour

// Token is what the schedule of a token depends on.
type Token struct {
	// IssuedAt is when the provider issued the token, where the service knows
	// it: for tokens it got from the provider itself. A token put by hand may
	// have been issued long before it was put.
	IssuedAt *time.Time
	// ExpiresAt is when the token expires; nil if it never does.
	ExpiresAt *time.Time
}

// Expiry is when a token expires as the service keeps it: a refreshable token
// without an expiry gets AssumedLifetime from now.
func Expiry(expiresAt *time.Time, refreshable bool, now time.Time) *time.Time {
	if expiresAt == nil && refreshable {
		t := now.Add(AssumedLifetime)
		return &t
	}
	return expiresAt
}

// Lifetime is how long the provider issued t to live, where that is known.
func (t Token) Lifetime() (time.Duration, bool) {
	if t.IssuedAt == nil || t.ExpiresAt == nil {
		return 0, false
	}
	return t.ExpiresAt.Sub(*t.IssuedAt), true
}

// Margin is how long before its expiry t is refreshed: the connection's
// margin, or half the token's lifetime where that is shorter. A provider's
// token that lives less than the margin (5-minute tokens are common) would
// otherwise be inside it from the moment it is stored, and every read would
// refresh it.
func (t Token) Margin(connectionMargin time.Duration) time.Duration {
	life, known := t.Lifetime()
	if !known {
		return connectionMargin
	}
	return max(0, min(connectionMargin, life/2))
}

// NextRefresh is when the background refresher renews t, stored at storedAt:
// as it enters its refresh margin (the moment reads would start refreshing
// it), brought forward by spread (in [0, 1)) of a window. Tokens issued or put
// together would otherwise all come due at one moment (the top of the hour),
// more than a provider answers at once; each token's spread, drawn when it is
// stored, spreads them out. For a token the service got from the provider the
// window is a tenth of its lifetime, so it is renewed late in its life. A
// token put by hand, whose lifetime is unknown, gets the whole time it has
// before its margin: tokens imported together, often expiring together, are
// renewed at an even rate over that time instead of in a tenth of it, at the
// cost of renewing each once earlier than it needed; after that renewal their
// lifetimes are known. Tokens that cannot be refreshed or never expire have
// none.
func (t Token) NextRefresh(connectionMargin time.Duration, refreshable bool, spread float64, storedAt time.Time) *time.Time {
	if t.ExpiresAt == nil || !refreshable {
		return nil
	}
	margin := t.Margin(connectionMargin)
	window, known := t.Lifetime()
	if known {
		window /= 10
	} else {
		window = t.ExpiresAt.Add(-margin).Sub(storedAt)
	}
	next := t.ExpiresAt.Add(-margin).Add(-earlier(max(window, 0), spread))
	return &next
}

// earlier is the share spread (clamped to [0, 1]) of window, never more than
// window: float64 rounds the largest durations up, past what a Duration
// holds. The margin and it are subtracted one at a time, since together they
// may not fit a Duration either.
func earlier(window time.Duration, spread float64) time.Duration {
	f := float64(window) * min(max(spread, 0), 1)
	if f >= float64(window) {
		return window
	}
	return time.Duration(f)
}
