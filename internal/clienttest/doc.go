// Package clienttest holds the Go client's tests that need a real server
// (internal/testutil). They live in the service's module because the client is a
// module of its own that must not depend on the server; the client's tests
// that need no server stay in client/.
package clienttest
