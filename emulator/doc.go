// Package emulator is WeChat's side of a third-party platform, faithful
// enough to be tested against on loopback: the component APIs, the
// merchant's authorization page, a few APIs called on an account's behalf,
// and the encrypted authorization event pushes.
//
// WeChat pushes tickets only to a public URL of an approved platform and
// answers only whitelisted IPs, so nothing of a platform's lifecycle can run
// on a laptop against the real thing. The emulator is written from the
// protocol (wechat-protocol.md), not from wxtoken's server, and shares only
// msgcrypt and the root package with it: a test that passes against it says
// something about WeChat, not about our own assumptions twice.
//
// Use it in-process:
//
//	clock := wxtoken.NewManualClock(start)
//	emu, err := emulator.New(emulator.Config{PushURL: url, Authorizers: 100, PreAuthorized: true, Clock: clock})
//	srv := httptest.NewServer(emu)  // the API base URL and the pages
//	go emu.Run(ctx)                 // a ticket now and every TicketInterval
//
// or as a process (wxtoken emulator). Where WeChat's behaviour is uncertain
// the choice is a Config switch. Everything is controlled and observed both
// through Go methods and JSON endpoints under /emulator/.
//
// Scale: a seeded account costs nothing until something about it changes.
// Appids are a keyed permutation of the account index, and every token,
// ticket and code encodes the (index, serial) it was minted for plus a tag,
// so a check needs only the account's few mutated integers, kept in a
// sharded map.
package emulator
