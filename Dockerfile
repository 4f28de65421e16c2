# The empi-infra image: the binary alone on Debian bookworm, run as a non-root user. Made for the
# scheduled drift CronJob (examples/kubernetes/drift-cronjob.yaml, docs/DRIFT.md), usable for any
# command that needs no terminal.
#
#   docker build -t ghcr.io/YOUR-ORG/empi-infra:0.1.0 .      # or: podman build (docs/DRIFT.md)
#   docker run --rm ghcr.io/YOUR-ORG/empi-infra:0.1.0 drift --help
#
# Checked by hadolint in the test suite (tests/it/recipes.rs). The base images are named by tag;
# pin them by digest (`@sha256:…`) where your registry policy asks for it.

# --- build: the release binary, from the committed Cargo.lock (as `cargo install --locked`) ---
FROM docker.io/library/rust:1.95.0-slim-bookworm AS build
WORKDIR /src
# only what the build reads (.dockerignore keeps target/, .local-cloud/ and state/ out of the context)
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY src src
# without its symbol table: a smaller image, and panics still name their location
ENV CARGO_PROFILE_RELEASE_STRIP=symbols
RUN cargo build --release --locked --bin empi-infra

# --- run: Debian's CA certificates (the AWS SDK and the Kubernetes client verify TLS with them) ---
FROM docker.io/library/debian:bookworm-slim
# DL3008: ca-certificates is not pinned on purpose: its version is whatever bookworm's security
# updates made current, which is the one an image should carry when it is built
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/empi-infra /usr/local/bin/empi-infra
# a numeric user, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/empi-infra"]
CMD ["--help"]
