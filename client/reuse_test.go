package client

import (
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// countingSource hands out a token expiring expiresIn from each call (none when
// zero) and counts the calls.
type countingSource struct {
	expiresIn time.Duration
	calls     int
}

func (s *countingSource) Token() (*oauth2.Token, error) {
	s.calls++
	t := &oauth2.Token{AccessToken: "t"}
	if s.expiresIn != 0 {
		t.Expiry = time.Now().Add(s.expiresIn)
	}
	return t, nil
}

func TestReusingTokenSourceAsksAgainOnlyWhenTheTokenIsDue(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		expiresIn time.Duration
		calls     int
	}{
		{"an hour left is reused", time.Hour, 1},
		{"50 s left is reused for half of them", 50 * time.Second, 1},
		{"without expiry it is reused", 0, 1},
		{"an expired one is asked for again each time", -time.Second, 3},
		{"one 100 ms from expiry is asked for again once 50 ms have passed", 100 * time.Millisecond, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			next := &countingSource{expiresIn: tc.expiresIn}
			s := &reusingTokenSource{next: next}
			for range 3 {
				if _, err := s.Token(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(60 * time.Millisecond) // not a poll: the token ages between calls
			}
			if next.calls != tc.calls {
				t.Fatalf("%d calls for 3 tokens, want %d", next.calls, tc.calls)
			}
		})
	}
}
