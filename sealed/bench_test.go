package sealed_test

import (
	"path/filepath"
	"testing"

	"github.com/wxtoken/wxtoken/sealed"
	"github.com/wxtoken/wxtoken/storetest"
)

// BenchmarkPutAuthorizer is the sqlite store's benchmark through sealing: the
// difference is the cost of two seals and two opens per refresh.
func BenchmarkPutAuthorizer(b *testing.B) {
	storetest.BenchmarkPutAuthorizer(b, sealed.Wrap(openSQLite(b, filepath.Join(b.TempDir(), "wxtoken.db")), keyring(b, newKey(b))))
}
