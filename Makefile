# Tools are pinned in tools/go.mod and run with `go tool`, so a fresh machine needs
# nothing but Go. They live in their own module to keep buf's dependencies out of
# the service's.
GO_TOOL := go tool -modfile=tools/go.mod
BUF := $(GO_TOOL) buf
DATA_DIR ?= ./data

.PHONY: all build generate check-generate lint test run clean

all: check-generate lint test build

build:
	go build -o bin/ ./cmd/...

generate:
	rm -rf gen
	$(BUF) generate

# Regenerates into a scratch copy and compares, so a stale gen/ fails without
# touching the working tree.
check-generate:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(BUF) generate -o "$$tmp" && \
	diff -r "$$tmp/gen" gen || { echo "gen/ is stale: run make generate" >&2; exit 1; }

lint:
	$(BUF) lint
	$(BUF) format --diff --exit-code
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed" >&2; exit 1; }

test:
	go test -race -count=1 ./...

run:
	go run ./cmd/integrationsd --dev --data-dir $(DATA_DIR)

clean:
	rm -rf bin
