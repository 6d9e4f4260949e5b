package postgres_test

import (
	"testing"

	"github.com/wxtoken/wxtoken/storetest"
)

// BenchmarkPutAuthorizer measures token refreshes per second, Serial and
// Parallel (see storetest.BenchmarkRefresh).
func BenchmarkPutAuthorizer(b *testing.B) {
	dbURL := testURL(b)
	storetest.BenchmarkRefresh(b, openStore(b, dbURL, newSchema(b, dbURL)))
}

// BenchmarkWatchLatency measures the time from PutAuthorizer on one replica
// to the Change arriving at another replica's Watch.
func BenchmarkWatchLatency(b *testing.B) {
	dbURL := testURL(b)
	schema := newSchema(b, dbURL)
	storetest.BenchmarkWatchLatency(b, openStore(b, dbURL, schema), openStore(b, dbURL, schema))
}
