package emulator

import (
	"slices"
	"sync"
	"time"
)

// The mutable state of one account's authorization. A seeded account has no
// record until something about it changes; until then its state is
// baseAuthz(index). Times are unix nanoseconds of the emulator's clock.
type authz struct {
	authorized bool
	// exchanged is false from an authorization until its code is exchanged:
	// the refresh token exists only from the exchange on.
	exchanged bool
	// generation counts authorizations, so that the code of a superseded
	// authorization no longer exchanges.
	generation uint32
	authTime   int64 // unix seconds; 0 with authorized: the seeded authorization time
	funcInfo   []int // nil: the account's default permission sets
	refresh    refreshChain
	access     tokenChain
	refreshes  int64 // successful api_authorizer_token calls
	options    [len(optionNames)]int8
	optionsSet bool
}

func (e *Emulator) baseAuthz() authz {
	if !e.cfg.PreAuthorized {
		return authz{}
	}
	return authz{authorized: true, exchanged: true, refresh: refreshChain{has: true}}
}

// tokenChain is the access tokens of one credential: each mint makes a new
// current token; the previous one lives on for the overlap (but never past its
// own expiry); anything older is dead.
type tokenChain struct {
	serial      uint32 // the latest serial minted; 0 before the first
	expires     int64  // of the current token; 0 once invalidated
	prevSerial  uint32 // 0: no previous token is valid
	prevUntil   int64
	prevExpires int64
}

func (t *tokenChain) mint(now int64, ttl, overlap time.Duration) uint32 {
	if t.serial != 0 && t.expires != 0 && overlap > 0 {
		t.prevSerial, t.prevExpires = t.serial, t.expires
		t.prevUntil = min(t.expires, now+int64(overlap))
	} else {
		t.prevSerial = 0
	}
	t.serial++
	t.expires = now + int64(ttl)
	return t.serial
}

// invalidate kills every token handed out so far (revocation).
func (t *tokenChain) invalidate() {
	t.expires = 0
	t.prevSerial = 0
}

// check returns 0 for a valid token, 42001 for an expired one and 40001 for
// one that was superseded or never minted.
func (t *tokenChain) check(serial uint32, now int64) int {
	switch {
	case serial == 0:
	case serial == t.serial && t.expires != 0:
		if now < t.expires {
			return 0
		}
		return errExpiredToken
	case serial == t.prevSerial:
		if now < t.prevUntil {
			return 0
		}
		if now >= t.prevExpires {
			return errExpiredToken
		}
	}
	return errInvalidCredential
}

// refreshChain is an authorization's refresh token. Serial 0 is the seeded
// initial token of a pre-authorized account; later ones are minted.
type refreshChain struct {
	next      uint32 // the last serial minted
	cur       uint32
	has       bool
	prev      uint32
	prevUntil int64
	hasPrev   bool
}

func (r *refreshChain) valid(serial uint32, now int64) bool {
	return r.has && serial == r.cur || r.hasPrev && serial == r.prev && now < r.prevUntil
}

// rotate replaces the token, keeping the old one valid for overlap (the
// occasional new refresh token of api_authorizer_token).
func (r *refreshChain) rotate(now int64, overlap time.Duration) {
	r.hasPrev = r.has && overlap > 0
	r.prev, r.prevUntil = r.cur, now+int64(overlap)
	r.next++
	r.cur, r.has = r.next, true
}

// replace mints a new token and kills the old one at once (WeChat-side
// rotation, or an exchange after re-authorization).
func (r *refreshChain) replace() {
	r.next++
	r.cur, r.has, r.hasPrev = r.next, true, false
}

func (r *refreshChain) drop() { r.has, r.hasPrev = false, false }

const shardCount = 256

type shard struct {
	mu sync.Mutex
	m  map[uint32]*authz
}

func (e *Emulator) shardOf(index uint32) *shard { return &e.shards[index%shardCount] }

// update runs fn on the account's record under its shard's lock, creating the
// record from the seed when fn succeeds. fn must not change anything when it
// returns an error.
func (e *Emulator) update(index uint32, fn func(a *authz) error) error {
	sh := e.shardOf(index)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	a, stored := sh.m[index]
	if !stored {
		b := e.baseAuthz()
		a = &b
	}
	was := a.authorized
	if err := fn(a); err != nil {
		return err
	}
	if !stored {
		sh.m[index] = a
	}
	if a.authorized != was {
		e.exceptions.set(index, a.authorized != e.cfg.PreAuthorized)
	}
	return nil
}

// view runs fn on the account's current state without creating a record; fn
// must not change it.
func (e *Emulator) view(index uint32, fn func(a *authz)) {
	sh := e.shardOf(index)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if a, ok := sh.m[index]; ok {
		fn(a)
		return
	}
	b := e.baseAuthz()
	fn(&b)
}

// exceptionSet holds the accounts whose authorization differs from the seeded
// default (revoked ones when PreAuthorized, authorized ones otherwise), so
// that api_get_authorizer_list pages through a million accounts by skipping a
// few instead of scanning.
type exceptionSet struct {
	mu     sync.Mutex
	m      map[uint32]struct{}
	sorted []uint32 // immutable once published; rebuilt when dirty
	dirty  bool
}

func (s *exceptionSet) set(index uint32, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.m[index] = struct{}{}
	} else {
		delete(s.m, index)
	}
	s.dirty = true
}

func (s *exceptionSet) snapshot() []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dirty {
		sorted := make([]uint32, 0, len(s.m))
		for i := range s.m {
			sorted = append(sorted, i)
		}
		slices.Sort(sorted)
		s.sorted, s.dirty = sorted, false
	}
	return s.sorted
}

// authorizedPage returns the indices of the authorized accounts at positions
// [offset, offset+count) in index order, and how many are authorized.
func (e *Emulator) authorizedPage(offset, count int) (page []uint32, total int) {
	exc := e.exceptions.snapshot()
	if !e.cfg.PreAuthorized {
		total = len(exc)
		if offset >= total {
			return nil, total
		}
		return slices.Clone(exc[offset:min(total, offset+count)]), total
	}
	total = e.cfg.Authorizers - len(exc)
	if offset >= total {
		return nil, total
	}
	// The position-th authorized index is position plus the number of
	// exceptions at or below it.
	idx, j := offset, 0
	for j < len(exc) && int(exc[j]) <= idx {
		idx++
		j++
	}
	for len(page) < count && idx < e.cfg.Authorizers {
		if j < len(exc) && int(exc[j]) == idx {
			j++
		} else {
			page = append(page, uint32(idx))
		}
		idx++
	}
	return page, total
}
