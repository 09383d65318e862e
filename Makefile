# kubeshim: `make run` to start a cluster, `make test` to run every test.
SHELL := /bin/bash
GO ?= go
BIN := bin
OUT := _output
VERSION ?= 0.1.0
KUBE_VERSION := v1.37.2
GIT_COMMIT := $(shell git rev-parse HEAD 2>/dev/null)
GIT_TREE := $(shell test -z "$$(git status --porcelain 2>/dev/null)" && echo clean || echo dirty)
BUILD_DATE := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
VERSION_PKG := k8s.io/component-base/version
# /version's commit, tree state and build date come from component-base, as in kube-apiserver.
STAMP := -X $(VERSION_PKG).gitCommit=$(GIT_COMMIT) -X $(VERSION_PKG).gitTreeState=$(GIT_TREE) -X $(VERSION_PKG).buildDate=$(BUILD_DATE)
LDFLAGS := -X github.com/kubeshim/kubeshim/apiserver.Version=$(VERSION) $(STAMP)
# Build tags that keep the linker's dead-code elimination working, worth ~10 MiB of resident
# memory and a third of the binary: containerd's client otherwise imports Go's plugin package
# (the linker then keeps and exports every symbol), and gRPC golang.org/x/net/trace (whose
# html/template execution makes the linker keep every exported method of every type).
TAGS := no_dynamic_plugins grpcnotrace
KUBECTL_LDFLAGS := $(STAMP) -X $(VERSION_PKG).gitVersion=$(KUBE_VERSION) -X $(VERSION_PKG).gitMajor=1 -X $(VERSION_PKG).gitMinor=37
DATA_DIR ?= $(OUT)/data
PORT ?= 6443
KUBE_OPENAPI := $(shell $(GO) list -m -f '{{.Version}}' k8s.io/kube-openapi 2>/dev/null)
# Debian packages the tests and `make run` need; installed with apt-get when missing.
APT_PACKAGES := ca-certificates curl iproute2 util-linux etcd-server \
	containerd runc containernetworking-plugins iptables busybox-static nginx-light
IMAGES_DIR := $(OUT)/images
OPENAPI_PKGS := k8s.io/api/core/v1 k8s.io/api/apps/v1 k8s.io/api/batch/v1 k8s.io/api/coordination/v1 \
	k8s.io/api/events/v1 k8s.io/api/policy/v1 k8s.io/api/autoscaling/v1 k8s.io/api/authentication/v1 \
	k8s.io/api/authorization/v1 k8s.io/api/scheduling/v1alpha3 k8s.io/apimachinery/pkg/apis/meta/v1 k8s.io/apimachinery/pkg/runtime \
	k8s.io/apimachinery/pkg/version k8s.io/apimachinery/pkg/util/intstr k8s.io/apimachinery/pkg/api/resource

.PHONY: all deps build kubectl generate images test unit e2e vet bench run clean

all: build

## deps: install the Debian packages kubeshim and its tests need (apt-get, only what is missing)
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

## build: bin/kubeshim
build:
	$(GO) build -tags "$(TAGS)" -ldflags "$(LDFLAGS)" -o $(BIN)/kubeshim ./cmd/kubeshim
	$(GO) build -o $(BIN)/kubeshim-logger ./cmd/kubeshim-logger

## kubectl: a kubectl built from k8s.io/kubectl at the client-go version, for the e2e tests
kubectl:
	$(GO) build -ldflags "$(KUBECTL_LDFLAGS)" -o $(OUT)/bin/kubectl ./test/kubectl

## generate: regenerate the OpenAPI definitions with k8s.io/kube-openapi's openapi-gen
generate:
	GOBIN=$(CURDIR)/$(OUT)/bin $(GO) install k8s.io/kube-openapi/cmd/openapi-gen@$(KUBE_OPENAPI)
	$(OUT)/bin/openapi-gen --go-header-file hack/boilerplate.go.txt \
		--output-dir apis/openapi --output-pkg github.com/kubeshim/kubeshim/apis/openapi \
		--output-file zz_generated.openapi.go --report-filename $(OUT)/api-violations.report \
		$(foreach p,$(OPENAPI_PKGS),--readonly-pkg $(p)) $(OPENAPI_PKGS)

vet:
	$(GO) vet ./...

## images: docker.io/library/{busybox,nginx}:latest archives (OCI layout + docker-save) built
## from Debian's busybox-static and nginx, for pods to run with no registry
images: deps
	$(GO) run ./test/images/mkimage -out $(IMAGES_DIR)

## unit: every package's tests except the end-to-end ones (the image builder's included)
unit: deps
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /test/) ./test/images/...

## e2e: drive the built binary with the stock kubectl binaries and client-go
e2e: build kubectl images
	KUBESHIM_BIN=$(CURDIR)/$(BIN)/kubeshim KUBECTL_BUILT=$(CURDIR)/$(OUT)/bin/kubectl KUBESHIM_IMAGES=$(CURDIR)/$(IMAGES_DIR) \
		$(GO) test -count=1 -timeout 20m ./test/e2e/...

## test: install what is missing, build, and run every unit and end-to-end test
test: deps build vet unit e2e

## bench: print start-up time, memory and throughput figures
bench: build images
	KUBESHIM_BIN=$(CURDIR)/$(BIN)/kubeshim KUBESHIM_IMAGES=$(CURDIR)/$(IMAGES_DIR) $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 30m ./test/bench/...
	@echo "write-ahead log (group commit: a write is acknowledged after the fsync of its batch), restart with 10,000 objects:"
	$(GO) test -count=1 -run '^$$' -bench 'BenchmarkWALWrites|BenchmarkReopen10k' -benchtime 2s ./registry/storage/
	@echo "in-process API server (testenv) start to ready:"
	$(GO) test -count=1 -run '^$$' -bench 'BenchmarkStart' -benchtime 10x ./testenv/

## run: install what is missing, build, and start kubeshim; kubectl uses $(DATA_DIR)/kubeconfig
run: deps build images
	@echo "kubeconfig: export KUBECONFIG=$(CURDIR)/$(DATA_DIR)/kubeconfig"
	$(BIN)/kubeshim up --data-dir $(DATA_DIR) --secure-port $(PORT) --images-dir $(IMAGES_DIR)

clean:
	rm -rf $(BIN) $(OUT)
