package schedule_test

import (
	"testing"
	"time"

	"github.com/bifrost/integrations/oauth/schedule"
)

var issued = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { v := issued.Add(d); return &v }

func TestMarginIsAtMostHalfAKnownLifetime(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name              string
		token             schedule.Token
		margin, effective time.Duration
	}{
		{"a long-lived token keeps the connection's margin", schedule.Token{IssuedAt: &issued, ExpiresAt: at(time.Hour)}, 5 * time.Minute, 5 * time.Minute},
		{"a token living less than the margin gets half its life", schedule.Token{IssuedAt: &issued, ExpiresAt: at(4 * time.Minute)}, 5 * time.Minute, 2 * time.Minute},
		{"a token living exactly twice the margin keeps it", schedule.Token{IssuedAt: &issued, ExpiresAt: at(10 * time.Minute)}, 5 * time.Minute, 5 * time.Minute},
		{"a token put by hand has no known lifetime", schedule.Token{ExpiresAt: at(time.Minute)}, 5 * time.Minute, 5 * time.Minute},
		{"a token that never expires keeps the margin", schedule.Token{IssuedAt: &issued}, 5 * time.Minute, 5 * time.Minute},
		{"a token issued already expired has none", schedule.Token{IssuedAt: &issued, ExpiresAt: at(-time.Minute)}, 5 * time.Minute, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.token.Margin(tc.margin); got != tc.effective {
				t.Fatalf("Margin(%s) = %s, want %s", tc.margin, got, tc.effective)
			}
		})
	}
}

func TestNextRefreshWithoutSpreadIsExpiryLessTheMarginForRefreshableExpiringTokensOnly(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		token       schedule.Token
		refreshable bool
		want        *time.Time
	}{
		{"a refreshable token is due a margin before it expires", schedule.Token{IssuedAt: &issued, ExpiresAt: at(time.Hour)}, true, at(55 * time.Minute)},
		{"a short-lived token is due halfway through its life", schedule.Token{IssuedAt: &issued, ExpiresAt: at(4 * time.Minute)}, true, at(2 * time.Minute)},
		{"a token that cannot be refreshed is never due", schedule.Token{IssuedAt: &issued, ExpiresAt: at(time.Hour)}, false, nil},
		{"a token that never expires is never due", schedule.Token{IssuedAt: &issued}, true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.token.NextRefresh(5*time.Minute, tc.refreshable, 0, issued)
			if (got == nil) != (tc.want == nil) || (got != nil && !got.Equal(*tc.want)) {
				t.Fatalf("NextRefresh = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestExpiryAssumesALifetimeOnlyForRefreshableTokensWithout(t *testing.T) {
	t.Parallel()
	now := issued
	if got := schedule.Expiry(nil, true, now); got == nil || !got.Equal(now.Add(schedule.AssumedLifetime)) {
		t.Errorf("refreshable without expiry: Expiry = %v, want now + %s", got, schedule.AssumedLifetime)
	}
	if got := schedule.Expiry(nil, false, now); got != nil {
		t.Errorf("not refreshable without expiry: Expiry = %v, want nil (never expires)", got)
	}
	if got := schedule.Expiry(at(time.Minute), true, now); got == nil || !got.Equal(*at(time.Minute)) {
		t.Errorf("with an expiry: Expiry = %v, want it kept", got)
	}
}

// Tokens issued together come due spread over a tenth of their lifetime
// before their margin, tokens put by hand over all the time they had before
// it; never later than the margin.
func TestNextRefreshSpreadsOverATenthOfTheLifetimeOrAllTheTimeLeftBeforeTheMargin(t *testing.T) {
	t.Parallel()
	hour := schedule.Token{IssuedAt: &issued, ExpiresAt: at(time.Hour)}
	byHand := schedule.Token{ExpiresAt: at(time.Hour)}
	for _, tc := range []struct {
		name     string
		token    schedule.Token
		spread   float64
		earliest time.Duration // before expiry
	}{
		{"no spread: at the margin", hour, 0, 5 * time.Minute},
		{"half: 3 minutes earlier", hour, 0.5, 8 * time.Minute},
		{"almost all: almost 6 minutes earlier", hour, 0.999, 5*time.Minute + time.Duration(0.999*float64(6*time.Minute))},
		{"out of range is clamped", hour, 7, 11 * time.Minute},
		{"unknown lifetime: half way to the margin from when stored", byHand, 0.5, 5*time.Minute + 55*time.Minute/2},
		{"unknown lifetime: as late as the margin", byHand, 0, 5 * time.Minute},
		{"unknown lifetime: as early as when stored", byHand, 1, time.Hour},
		{"unknown lifetime, stored inside its margin: at the margin", schedule.Token{ExpiresAt: at(time.Minute)}, 1, 5 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.token.NextRefresh(5*time.Minute, true, tc.spread, issued)
			if want := tc.token.ExpiresAt.Add(-tc.earliest); got == nil || !got.Equal(want) {
				t.Fatalf("NextRefresh = %v, want %v", got, want)
			}
		})
	}
}

// A token put by hand far from its expiry (an admin's "never", 9999-12-31)
// has more time before its margin than a time.Duration holds: whatever its
// spread, it is due between when it was stored and its margin, never after.
func TestNextRefreshOfAHandPutTokenFarFromExpiryIsNeverLaterThanItsMargin(t *testing.T) {
	t.Parallel()
	expires := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	token := schedule.Token{ExpiresAt: &expires}
	for _, spread := range []float64{0, 0.5, 1 - 1e-9, 1 - 1e-16, 1} {
		next := token.NextRefresh(5*time.Minute, true, spread, issued)
		if next == nil || next.Before(issued) || next.After(expires.Add(-5*time.Minute)) {
			t.Errorf("spread %v: due at %v, want between %v and %v", spread, next, issued, expires.Add(-5*time.Minute))
		}
	}
}
