SHELL := /bin/bash

# Tools are pinned in tools/go.mod and run with `go tool`, so a fresh machine needs
# nothing but Go. They live in their own module to keep buf's dependencies out of
# the service's. buf's protoc-gen-go and protoc-gen-go-grpc have one more,
# tools/plugins/go.mod, which holds protoc-gen-go at the protobuf release gen/
# uses (buf needs a newer pre-release).
GO_TOOL := go tool -modfile=tools/go.mod
BUF := $(GO_TOOL) buf
DATA_DIR ?= ./data

.PHONY: all build generate check-generate lint test test-go test-postgres test-python fuzz run bench clean

all: check-generate lint test build

build:
	go build -o bin/ ./cmd/...

# Python stubs need Debian's protoc and grpc_python_plugin (see .ci/run).
PY_GEN := clients/python/bifrost
PYTHON := /usr/bin/python3

# buf runs Debian's protoc for the Python plugins; where it is missing, buf only
# says that the other plugins were killed.
NEED_PROTOC = @command -v protoc >/dev/null && command -v grpc_python_plugin >/dev/null || \
	{ echo "$@ needs protoc and grpc_python_plugin: apt-get install protobuf-compiler protobuf-compiler-grpc (.ci/run does)" >&2; exit 1; }

# Generates into a scratch directory first: a failed run leaves gen/ as it was.
generate:
	$(NEED_PROTOC)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(BUF) generate -o "$$tmp" && \
	rm -rf gen && mv "$$tmp/gen" gen && \
	find $(PY_GEN) -name '*_pb2*' -delete && \
	(cd "$$tmp" && find $(PY_GEN) -name '*_pb2*' -exec cp --parents {} "$(CURDIR)" \;)

# Regenerates into a scratch copy and compares, so a stale gen/ fails without
# touching the working tree.
check-generate:
	$(NEED_PROTOC)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(BUF) generate -o "$$tmp" && \
	diff -r "$$tmp/gen" gen && \
	diff <(cd "$$tmp" && find $(PY_GEN) -name '*_pb2*' | sort) <(find $(PY_GEN) -name '*_pb2*' | sort) && \
	for f in $$(cd "$$tmp" && find $(PY_GEN) -name '*_pb2*'); do diff "$$tmp/$$f" "$$f" || exit 1; done \
	|| { echo "generated code is stale: run make generate" >&2; exit 1; }

lint:
	$(BUF) lint
	$(BUF) format --diff --exit-code
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed" >&2; exit 1; }

test: test-go test-postgres test-python

# The adversarial tenant-isolation test (server/adversarial_test.go) runs on
# its own, verbosely, so that it prints how many operations it tried.
ADVERSARIAL := ^TestAdversarialWorkersNeverReachAnotherOrganization$$
ADVERSARIAL_OUTPUT := grep -E '^(adversarial:|--- |ok|FAIL|panic)|_test\.go:'

test-go:
	go test -race -count=1 -skip '$(ADVERSARIAL)' ./...
	set -o pipefail; go test -race -count=1 -run '$(ADVERSARIAL)' -v ./server/ 2>&1 | $(ADVERSARIAL_OUTPUT)

# The store, server and client suites again on PostgreSQL (a schema per test).
# Without a reachable PostgreSQL they skip with a message, except in CI.
PG_PACKAGES := ./store/ ./server/ ./connect/ ./internal/clienttest/ ./cmd/integrationsctl/ ./cmd/integrationsd/
test-postgres:
	BIFROST_TEST_DB=postgres go test -race -count=1 -skip '$(ADVERSARIAL)' $(PG_PACKAGES)
	set -o pipefail; BIFROST_TEST_DB=postgres go test -race -count=1 -run '$(ADVERSARIAL)' -v ./server/ 2>&1 | $(ADVERSARIAL_OUTPUT)

# The Python client's tests run on Debian's python3 with Debian's grpcio,
# protobuf, pytest and httpx (.ci/run installs them). Where they are missing
# they are skipped with a message, except in CI, where that fails.
test-python: build
	@if $(PYTHON) -c 'import grpc, google.protobuf, pytest, httpx' 2>/dev/null; then \
		cd clients/python && BIFROST_INTEGRATIONSD=$(CURDIR)/bin/integrationsd $(PYTHON) -m pytest -q; \
	elif [ "$$CI" = "true" ]; then \
		echo "test-python: Debian's python3-grpcio, python3-protobuf, python3-pytest and python3-httpx are missing" >&2; exit 1; \
	else \
		echo "test-python: SKIPPED: install python3-grpcio python3-protobuf python3-pytest python3-httpx (see .ci/run)"; \
	fi

# Each fuzz target runs for FUZZTIME; `make test` runs their committed seeds.
FUZZTIME ?= 20s
FUZZ_TARGETS := ./config:FuzzPatchAndMerge ./keyring:FuzzOpen ./store:FuzzAuditBatchRoundTrip ./server:FuzzRequestValidation ./oauth:FuzzTokenResponse
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzzing $$fn in $$pkg for $(FUZZTIME)"; \
		go test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	done

# Starts integrationsd as its own process and prints one table of figures and
# targets; see cmd/integrations-bench/README.md. BENCH_FLAGS passes flags (e.g. -mappings 1000).
bench: build
	bin/integrations-bench -integrationsd bin/integrationsd $(BENCH_FLAGS)

run:
	@echo 'integrationsd: gRPC on 127.0.0.1:50051, HTTP on 127.0.0.1:8080, data in $(DATA_DIR)'
	@echo 'The first admin key is written to $(DATA_DIR)/admin.key. In another terminal:'
	@echo '  export BIFROST_API_KEY="$$(cat $(DATA_DIR)/admin.key)"'
	@echo '  go tool -modfile=tools/go.mod grpcurl -plaintext 127.0.0.1:50051 list'
	@echo '  go tool -modfile=tools/go.mod grpcurl -plaintext -H "authorization: Bearer $$BIFROST_API_KEY" -d '"'"'{"name": "Microsoft_Graph"}'"'"' 127.0.0.1:50051 bifrost.integrations.v1.IntegrationsService/GetIntegration'
	@echo 'The README quickstart sets up an integration with bin/integrationsctl.'
	go run ./cmd/integrationsd --dev --data-dir $(DATA_DIR)

clean:
	rm -rf bin
