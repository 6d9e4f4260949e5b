package redis_test

import (
	"testing"

	"github.com/wxtoken/wxtoken/storetest"
)

// BenchmarkPutAuthorizer measures token refreshes per second, Serial and
// Parallel (see storetest.BenchmarkRefresh).
func BenchmarkPutAuthorizer(b *testing.B) {
	serverURL := testURL(b)
	storetest.BenchmarkRefresh(b, openStore(b, serverURL, newPrefix(b, serverURL)))
}

// BenchmarkWatchLatency measures the time from PutAuthorizer on one replica
// to the Change arriving at another replica's Watch.
func BenchmarkWatchLatency(b *testing.B) {
	serverURL := testURL(b)
	prefix := newPrefix(b, serverURL)
	storetest.BenchmarkWatchLatency(b, openStore(b, serverURL, prefix), openStore(b, serverURL, prefix))
}
