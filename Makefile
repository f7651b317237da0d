# kube-balancer: thin wrapper around CMake/ctest. `make test` is all a fresh machine needs.
SHELL := /bin/bash
.DEFAULT_GOAL := build

SANITIZE ?= 0
JOBS ?= $(shell nproc)
ifeq ($(SANITIZE),1)
  BUILD_DIR ?= build-asan
  CMAKE_ARGS += -DKB_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
else
  BUILD_DIR ?= build
  CMAKE_ARGS += -DCMAKE_BUILD_TYPE=RelWithDebInfo
endif
# Rebuilds across checkouts reuse objects when ccache is installed (optional; CI has none).
ifneq ($(shell command -v ccache 2>/dev/null),)
  CMAKE_ARGS += -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
endif

# Every Debian package the build, the tests, the benchmarks and the demo need.
DEB_PACKAGES := cmake ninja-build g++ pkg-config make openssl clang-format \
  libcpp-httplib-dev nlohmann-json3-dev prometheus-cpp-dev libspdlog-dev catch2 \
  libyaml-cpp-dev libssl-dev libsimdjson-dev prometheus

SOURCES = $(shell git ls-files --cached --others --exclude-standard -- '*.h' '*.cc' 2>/dev/null)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps configure build test bench fmt lint layering clean image demo

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "installing missing packages:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_ARGS) > /dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build lint
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The seeds' scenarios end to end on this machine: kube-sim + a real Prometheus + kube-balancer on
# 127.0.0.1, tables before / after each play, an HTML chart (docs/demo.md).
demo: build
	@$(BUILD_DIR)/sim/kube-balancer-demo --kube-balancer $(BUILD_DIR)/server/kube-balancer \
	  --source-dir $(CURDIR) --out $(BUILD_DIR)/demo/kube-balancer-demo.html

bench: build
	@for b in $(BUILD_DIR)/bench/*_bench; do [ -x "$$b" ] && "$$b" || exit 1; done

fmt:
	@clang-format -i $(SOURCES)

lint: layering
	@clang-format --dry-run -Werror $(SOURCES)

# Dependencies point down only: core <- kube, scoring <- rescheduler <- server (the composition
# root and CLI). Scoring and the rescheduler read cluster state only as core's ClusterSnapshot,
# never from the informer; the extender's request path never reaches into the rescheduler.
layering:
	@! grep -rnE '#include "(kube|scoring|rescheduler|server|sim)/' core || (echo "core must not include upper modules" && false)
	@! grep -rnE '#include "(scoring|rescheduler|server|sim)/' kube || (echo "kube includes an upper module" && false)
	@! grep -rnE '#include "(kube|rescheduler|server|sim)/' scoring || (echo "scoring includes kube or an upper module" && false)
	@! grep -rnE '#include "(server|sim)/' rescheduler || (echo "rescheduler includes an upper module" && false)
	@! grep -rnE '#include "kube/cluster_cache.h"' rescheduler || (echo "the rescheduler reads core's ClusterSnapshot, not the informer" && false)
	@! grep -rnE '#include "sim/' server || (echo "server includes sim" && false)
	@! grep -nE '#include "rescheduler/' server/extender.* server/http_*.* server/codec.* || (echo "the extender must not depend on the rescheduler" && false)

# The container image (Dockerfile). Needs a reachable Docker engine; kind: then
# `kind load docker-image kube-balancer:dev --name kube-balancer` (docs/deployment.md).
image:
	@if ! command -v docker >/dev/null 2>&1; then \
	  echo "make image: docker is not installed; build the image on a machine with Docker (Dockerfile at the repo root)" >&2; exit 1; \
	elif ! docker info >/dev/null 2>&1; then \
	  echo "make image: no Docker engine reachable (is the daemon running, is DOCKER_HOST right?); the image cannot be built here" >&2; exit 1; \
	fi
	docker build -t kube-balancer:dev .

clean:
	rm -rf build build-asan
