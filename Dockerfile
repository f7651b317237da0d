# kube-balancer container image: a Debian 12 (bookworm) build from Debian packages only, then a
# minimal bookworm-slim runtime holding just the binary and the shared libraries it links.
#   make image    # = docker build -t kube-balancer:dev .
#   kind load docker-image kube-balancer:dev --name kube-balancer
# Runs as the unprivileged uid/gid 65532 with no writable paths needed (the manifests mount the
# root filesystem read-only).

ARG DEBIAN_IMAGE=debian:bookworm-slim
# Runtime shared libraries of kube-balancer (checked against `ldd` in the build stage, which
# fails if one is missing): cpp-httplib (+ zlib, brotli, OpenSSL), spdlog + fmt, yaml-cpp,
# prometheus-cpp core, simdjson. libc6, libstdc++6 and libgcc-s1 are part of bookworm-slim.
ARG RUNTIME_PACKAGES="libcpp-httplib0.11 libspdlog1.10 libfmt9 libyaml-cpp0.7 libprometheus-cpp-core1.0 libsimdjson14 libssl3 zlib1g libbrotli1"

FROM ${DEBIAN_IMAGE} AS build
ARG RUNTIME_PACKAGES
# The -dev packages of the Makefile's DEB_PACKAGES (catch2 too: CMake configures the tests).
# Left out: prometheus, openssl and clang-format, which only the tests and `make lint` use.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake ninja-build g++ pkg-config make binutils \
      libcpp-httplib-dev nlohmann-json3-dev prometheus-cpp-dev libspdlog-dev catch2 \
      libyaml-cpp-dev libssl-dev libsimdjson-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build --target kube-balancer -j "$(nproc)" \
 && install -D -m 0755 /build/server/kube-balancer /out/kube-balancer \
 && strip --strip-unneeded /out/kube-balancer
# Every library the binary links must come from RUNTIME_PACKAGES (or the base image): fail here,
# not in the pod at start-up.
RUN set -eu; missing=""; \
    for lib in $(ldd /out/kube-balancer | awk '/=>/ {print $3}'); do \
      path=$(readlink -f "$lib"); \
      pkg=$( { dpkg -S "$path" 2>/dev/null || dpkg -S "${path#/usr}"; } | head -n 1 | cut -d: -f1); \
      case " $RUNTIME_PACKAGES libc6 libstdc++6 libgcc-s1 " in \
        *" $pkg "*) ;; \
        *) missing="$missing ${pkg:-?}($lib)" ;; \
      esac; \
    done; \
    if [ -n "$missing" ]; then echo "RUNTIME_PACKAGES lacks:$missing" >&2; exit 1; fi

FROM ${DEBIAN_IMAGE}
ARG RUNTIME_PACKAGES
# ca-certificates: the system CA store for an https:// Prometheus (prometheus.caFile empty).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates ${RUNTIME_PACKAGES} \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/kube-balancer /usr/local/bin/kube-balancer
RUN if ldd /usr/local/bin/kube-balancer | grep 'not found'; then exit 1; fi
USER 65532:65532
EXPOSE 8888
ENTRYPOINT ["/usr/local/bin/kube-balancer"]
CMD ["--config=/etc/kube-balancer/config.yaml"]
