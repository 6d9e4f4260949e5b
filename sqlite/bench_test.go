package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/wxtoken/wxtoken/sqlite"
	"github.com/wxtoken/wxtoken/storetest"
)

func BenchmarkPutAuthorizer(b *testing.B) {
	s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "wxtoken.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchmarkPutAuthorizer(b, s)
}
