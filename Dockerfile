# Palisade container image.
#
#   docker build -t palisade:dev .
#   docker run --rm -p 8080:8080 -p 9901:9901 palisade:dev
#
# Build stage: the official Swift toolchain image (Debian 12 "bookworm").
# Runtime stage: plain debian:bookworm-slim, same Debian release.
#
# Why --static-swift-stdlib: Palisade links Foundation, and a default build
# links the Swift runtime and Foundation as shared libraries that exist only in
# swift:* images. With --static-swift-stdlib the Swift runtime, Foundation
# (including its ICU data) and Dispatch are linked into the executable, which
# then needs only libc, libm, libstdc++ and libgcc_s, all part of
# debian:bookworm-slim, and libhiredis (installed below). The runtime image is smaller and carries no compiler.
#
# Tags pin Swift 6.3.1 and Debian 12; pin by digest (image@sha256:...) for
# fully reproducible builds.

FROM swift:6.3.1-bookworm AS build
WORKDIR /src

# hiredis for the CHiredis target (the Redis store formats commands and parses
# replies with it), found through pkg-config.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config libhiredis-dev \
    && rm -rf /var/lib/apt/lists/*

# Resolve dependencies in their own layer so that source-only changes reuse it.
# Package.resolved is not used (see .dockerignore): versions come from the
# ranges in Package.swift, as in a fresh clone.
COPY Package.swift ./
RUN swift package resolve

# Tests/ is copied too: SwiftPM checks that every target declared in
# Package.swift has its directory, even when building one product.
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product palisade --static-swift-stdlib \
    && install -D -m 0755 .build/release/palisade /out/palisade


FROM debian:bookworm-slim

# ca-certificates and libhiredis0.14 (the Redis store's reply parser, linked
# dynamically) are the only packages added; libc, libstdc++ and libgcc_s are
# already in the base image. Versions are deliberately not pinned: Debian drops
# superseded versions from its archive, so pinned builds break whenever a
# security update lands.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libhiredis0.14 \
    && rm -rf /var/lib/apt/lists/*

COPY --from=build /out/palisade /usr/local/bin/palisade

# Default policy, owned by root and read-only for the runtime user. Mount a
# real policy over /etc/palisade (Kubernetes ConfigMap, compose volume).
COPY policies/sidecar.yaml /etc/palisade/policy.yaml

# Numeric, non-root user with no /etc/passwd entry, so Kubernetes can verify
# runAsNonRoot. With the access log on stdout Palisade needs no writable path,
# so the root filesystem can be mounted read-only.
USER 65532:65532

# 8080: proxy listener, 9901: admin (/healthz, /readyz, /metrics).
EXPOSE 8080 9901

# Exec form: palisade is PID 1 and receives SIGTERM (drain) and SIGHUP
# (reload) directly.
ENTRYPOINT ["palisade"]
CMD ["run", "--config", "/etc/palisade/policy.yaml"]
