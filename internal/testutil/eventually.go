package testutil

import (
	"testing"
	"time"
)

// Eventually calls check until it returns nil, and fails the test with
// check's last error if that has not happened within the given time. It backs
// off from 1 ms to 50 ms between calls, so that a condition met at once costs
// nothing and a slow one does not spin. The error says what is not yet true
// ("only 3 of 8 events written"), so that a failure shows the last state seen.
//
// Call it from the test's goroutine: it fails with t.Fatalf, and so may check.
func Eventually(t testing.TB, within time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", within, err)
		}
		time.Sleep(wait)
	}
}
