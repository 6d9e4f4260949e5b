# Targets mirror .ci/run.
GO ?= go
FUZZTIME ?= 10s

.PHONY: test lint fuzz bench ci demo

test:
	$(GO) test -race -count=1 ./...

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...

fuzz:
	FUZZTIME=$(FUZZTIME) bash -c 'git grep -l "^func Fuzz" -- "*_test.go" | while read -r f; do \
	  for t in $$(grep -o "^func Fuzz[A-Za-z0-9_]*" $$f | sed "s/^func //"); do \
	    $(GO) test -run="^$$" -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) ./$$(dirname $$f) || exit 1; done; done'

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

ci:
	bash .ci/run

demo:
	$(GO) run ./cmd/wxtoken demo
