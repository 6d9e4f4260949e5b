package postgres_test

import (
	"testing"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/storetest"
)

func TestConformance(t *testing.T) {
	dbURL := testURL(t)
	storetest.Run(t, func(t *testing.T) wxtoken.Store {
		return openStore(t, dbURL, newSchema(t, dbURL))
	})
}
