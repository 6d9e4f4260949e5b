package emulator

import (
	"sync"
	"time"
)

// WeChat's days and months are Beijing's. A fixed zone keeps the emulator
// free of the tz database.
var beijing = time.FixedZone("CST", 8*3600)

type quotaKey struct {
	endpoint string
	index    int64 // the account for authorizer APIs; -1 for the platform
}

// quotaState counts calls per day against Config.Quotas and clear_quota/v2
// per month.
type quotaState struct {
	mu     sync.Mutex
	day    int64 // days since 1970 in Beijing
	used   map[quotaKey]int
	month  int64 // year*12+month in Beijing
	clears map[int64]int
}

func beijingDay(t time.Time) int64 {
	_, off := t.In(beijing).Zone()
	return (t.Unix() + int64(off)) / 86400
}

func beijingMonth(t time.Time) int64 {
	b := t.In(beijing)
	return int64(b.Year())*12 + int64(b.Month())
}

// take counts one call and reports whether it is within limit.
func (q *quotaState) take(endpoint string, index int64, limit int, now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if d := beijingDay(now); d != q.day {
		q.day = d
		clear(q.used)
	}
	k := quotaKey{endpoint, index}
	if q.used[k] >= limit {
		return false
	}
	q.used[k]++
	return true
}

// clear resets the daily counts of target (-1: the platform's component
// APIs; otherwise an account's APIs), unless target used up its clears this
// month.
func (q *quotaState) clear(target int64, perMonth int, now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if m := beijingMonth(now); m != q.month {
		q.month = m
		clear(q.clears)
	}
	if q.clears[target] >= perMonth {
		return false
	}
	q.clears[target]++
	for k := range q.used {
		if k.index == target {
			delete(q.used, k)
		}
	}
	return true
}
