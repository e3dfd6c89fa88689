# The fleetflow GitHub Action (action.yml) and a general-purpose `fleet` image.
# Base images are build arguments so the final stage can be built on a locally made base:
#   docker build --build-arg BASE_IMAGE=my/bookworm-base --build-arg RUST_IMAGE=my/rust .
ARG RUST_IMAGE=rust:1-bookworm
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY examples ./examples
RUN cargo build --release --locked --bin fleet \
    && cp target/release/fleet /usr/local/bin/fleet

FROM ${BASE_IMAGE}
# Set to "false" to leave out the buildx plugin (e.g. a base without Docker's apt repository).
ARG WITH_BUILDX=true
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl gnupg git openssh-client; \
    install -m 0755 -d /etc/apt/keyrings; \
    if curl -fsSL https://download.docker.com/linux/debian/gpg -o /etc/apt/keyrings/docker.asc; then \
      chmod a+r /etc/apt/keyrings/docker.asc; \
      echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian bookworm stable" > /etc/apt/sources.list.d/docker.list; \
      apt-get update; \
      pkgs=docker-ce-cli; \
      if [ "$WITH_BUILDX" = true ]; then pkgs="$pkgs docker-buildx-plugin"; fi; \
      apt-get install -y --no-install-recommends $pkgs; \
    else \
      apt-get install -y --no-install-recommends docker.io; \
    fi; \
    apt-get purge -y --auto-remove gnupg; \
    rm -rf /var/lib/apt/lists/*; \
    git config --system --add safe.directory '*'
COPY --from=builder /usr/local/bin/fleet /usr/local/bin/fleet
ENTRYPOINT ["fleet", "action"]
