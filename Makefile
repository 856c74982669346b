# goldenpipe — an Azure Functions custom handler for golden-image pipelines.
# `make run` runs it locally on embedded defaults; `make test` runs the tests.

GO          ?= go
BIN         := bin/goldenpipe
ZIP         := dist/goldenpipe.zip
VERSION     ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X github.com/goldenpipe/goldenpipe/app.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
AZURITE     := node_modules/.bin/azurite-blob

.PHONY: all build test docs run package deploy bench lint fuzz clean

all: build

# Azurite, pinned in package.json / package-lock.json.
$(AZURITE): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

## build: static linux/amd64 handler binary (CGO off)
build:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/goldenpipe

## test: every test, against a real Azurite the tests start and stop themselves:
## twice in one run, shuffled, and two copies at once (scripts/test-twice.sh);
## then the status page in headless Chromium (installed from Debian if missing)
test: $(AZURITE)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$unformatted" || { echo "not gofmt-formatted (gofmt -w them): $$unformatted"; exit 1; }
	$(GO) vet ./...
	bash scripts/cover-decision.sh
	bash scripts/test-twice.sh
	bash scripts/browser-test.sh

## docs: refresh the README's screenshots (docs/*.png: the overview, a failed and a running build, a template) from the browser test, with the examples alone
docs: $(AZURITE)
	SCREENSHOT_DIR=$(CURDIR)/docs bash scripts/browser-test.sh

## run: the app locally on embedded defaults (Azurite + handler on 127.0.0.1:7071)
run: $(AZURITE)
	$(GO) run ./scripts/devrun $(ARGS)

## package: the zip deployable as-is (host.json, one folder per function, binary)
package: build
	$(GO) run ./scripts/package -bin $(BIN) -out $(ZIP)

## deploy: into a subscription (NAME=, RG=, LOCATION=; see the README)
deploy:
	bash scripts/deploy.sh

## bench: the benchmarks, each printed one figure per line
bench: $(AZURITE)
	$(GO) run ./scripts/bench

## lint: go vet and staticcheck
lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## fuzz: run every fuzz target for FUZZTIME each
FUZZTIME ?= 20s
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

clean:
	rm -rf bin dist .local
