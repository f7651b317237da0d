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
# clang and libclang-rt-14-dev (its sanitizer and libFuzzer runtimes) serve the fuzz and
# sanitizer builds.
DEB_PACKAGES := cmake ninja-build g++ pkg-config make openssl clang-format \
  libcpp-httplib-dev nlohmann-json3-dev prometheus-cpp-dev libspdlog-dev catch2 \
  libyaml-cpp-dev libssl-dev libsimdjson-dev prometheus clang libclang-rt-14-dev

SOURCES = $(shell git ls-files --cached --others --exclude-standard -- '*.h' '*.cc' 2>/dev/null)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps configure build test bench fmt lint layering clean image demo \
  fuzz-build fuzz sanitize-test tsan-test

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

# Instrumented builds (clang), each in its own directory, building only what they run
# (docs/development.md "Sanitizers" and "Fuzzing").
# build-fuzz: ASan + UBSan + libFuzzer coverage on everything; the fuzz/ targets, and the unit-test
# suites for `make sanitize-test`. build-tsan: ThreadSanitizer for the threaded modules' tests.
FUZZ_BUILD_DIR ?= build-fuzz
TSAN_BUILD_DIR ?= build-tsan
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?=
CLANG_CMAKE_ARGS := -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo $(filter -DCMAKE_CXX_COMPILER_LAUNCHER=%,$(CMAKE_ARGS))
# The unit-test labels run under ASan + UBSan.
SANITIZE_LABELS := core kube scoring rescheduler server
# The threaded modules' tests run under TSan: <suite>:<Catch test spec>, [#file] = a test file.
TSAN_TESTS := kube:[\#cluster_cache_test] \
  scoring:[\#load_model_test],[\#metrics_refresher_test] \
  rescheduler:[\#rescheduler_test],[\#leader_elector_test] \
  server:[\#http_server_test]
# Sanitizer reports fail the test that triggered them.
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

fuzz-build: deps
	@cmake -S . -B $(FUZZ_BUILD_DIR) -G Ninja $(CLANG_CMAKE_ARGS) -DKB_FUZZ=ON > /dev/null
	@cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS) --target kb_fuzzers

# Each fuzz target for FUZZ_SECONDS from its seeds (fuzz/run.sh); fails on any finding that
# fuzz/known-open.txt does not list.
fuzz: fuzz-build
	@fuzz/run.sh $(FUZZ_BUILD_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

sanitize-test: deps
	@cmake -S . -B $(FUZZ_BUILD_DIR) -G Ninja $(CLANG_CMAKE_ARGS) -DKB_FUZZ=ON > /dev/null
	@cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS) --target $(addsuffix _tests,$(SANITIZE_LABELS))
	@cd $(FUZZ_BUILD_DIR) && $(SAN_ENV) ctest --output-on-failure -j $(JOBS) \
	  -L "^($$(echo $(SANITIZE_LABELS) | tr ' ' '|'))\$$"

tsan-test: deps
	@cmake -S . -B $(TSAN_BUILD_DIR) -G Ninja $(CLANG_CMAKE_ARGS) -DKB_TSAN=ON > /dev/null
	@cmake --build $(TSAN_BUILD_DIR) -j $(JOBS) \
	  --target $(foreach t,$(TSAN_TESTS),$(firstword $(subst :, ,$(t)))_tests)
	@set -e; for t in $(foreach t,$(TSAN_TESTS),'$(t)'); do \
	  suite=$${t%%:*}; spec=$${t#*:}; \
	  echo "tsan: $${suite}_tests $$spec"; \
	  $(SAN_ENV) timeout 600 $(TSAN_BUILD_DIR)/test/$$suite/$${suite}_tests -# "$$spec"; \
	done

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
	rm -rf build build-asan build-fuzz build-tsan
