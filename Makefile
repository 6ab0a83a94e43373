# Relais — build, run and test.
#
#   make run    build relais and run the example pipelines (see README)
#   make test   everything CI checks: formatting, vet, unit, contract and scenario tests
#
# Node tools (asl-validator, aws-local-stepfunctions and its Node 22) are pinned in
# tools/package.json + tools/package-lock.json and installed with `npm ci`.

GO        ?= go
BIN       := $(CURDIR)/bin
TOOLS_BIN := $(CURDIR)/tools/node_modules/.bin
GOTEST    ?= $(GO) test
# Tests that need the Node tools find them here (see test/nodetool).
export RELAIS_TOOLS_BIN := $(TOOLS_BIN)

.PHONY: all build run test tools tools-go fmt-check vet unit bench fuzz clean

all: build

build:
	$(GO) build -o $(BIN)/relais ./cmd/relais

tools: tools/node_modules/.package-lock.json

tools/node_modules/.package-lock.json: tools/package.json tools/package-lock.json
	cd tools && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The demo: a git repository made from examples/hello, run through pipelines/hello.json
# (source → build and test → manual approval → deploy to a folder). The approval is
# asked at the terminal; RELAIS_AUTO_APPROVE=1 approves it without asking.
DEMO := $(CURDIR)/.relais/demo

run: build
	$(BIN)/relais validate --target local pipelines/*.json
	rm -rf $(DEMO)/hello && mkdir -p $(DEMO) && cp -R examples/hello $(DEMO)/hello
	cd $(DEMO)/hello && git init -q -b main && git add -A && \
		git -c user.name=Relais -c user.email=demo@relais.invalid commit -q -m "Say hello"
	$(BIN)/relais run --data $(DEMO)/data --repo relais-ci/hello=$(DEMO)/hello pipelines/hello.json

test: tools tools-go fmt-check vet unit

# Go tools the tests run: mailpit, a real SMTP server (shared/local/smtpnotify/mailpittest
# pins the same version and installs it into the user cache when RELAIS_MAILPIT is unset).
MAILPIT_VERSION := v1.33.1
export RELAIS_MAILPIT := $(BIN)/tools/mailpit-$(MAILPIT_VERSION)/mailpit

tools-go: $(RELAIS_MAILPIT)

$(RELAIS_MAILPIT):
	GOBIN=$(dir $@) GOFLAGS= CGO_ENABLED=0 $(GO) install github.com/axllent/mailpit@$(MAILPIT_VERSION)

fmt-check:
	@out="$$(find . -name '*.go' -not -path './tools/node_modules/*' -not -path './.relais/*' -print0 | xargs -0 gofmt -l)"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# -race everywhere: the interpreter, the gates and the stores are concurrent.
unit:
	$(GOTEST) -race -timeout 20m ./...

bench:
	$(GOTEST) -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BIN)

# The Lambda bootstraps the CDK stack deploys (infra reads build/lambda/<name>/bootstrap):
# provided.al2023 on arm64, without the RPC mode the Go 1.x runtime needed.
LAMBDAS := api gate action approval events webhook
LAMBDA_DIR := $(CURDIR)/build/lambda

.PHONY: lambdas
lambdas:
	@for f in $(LAMBDAS); do \
		if [ ! -f functions/$$f/main.go ]; then echo "skip $$f: functions/$$f has no main.go yet"; continue; fi; \
		echo "build/lambda/$$f/bootstrap"; \
		GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags=-s \
			-o $(LAMBDA_DIR)/$$f/bootstrap ./functions/$$f || exit 1; \
	done
