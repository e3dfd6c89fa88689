# The fleetflow GitHub Action (action.yml) and a general-purpose `fleet` image.
#
# Base images are build arguments, so the image also builds where Docker Hub is unreachable:
#   docker build --build-arg RUST_IMAGE=my/base --build-arg BASE_IMAGE=my/base .
# scripts/action-image.sh does exactly that on a base it assembles from the host's files, with
# the classic builder (which runs every stage, hence no stage here needs more than a shell when a
# prebuilt binary is given).
ARG RUST_IMAGE=rust:1-bookworm
ARG BASE_IMAGE=debian:bookworm-slim

# The static `fleet` binary, at /fleet. A prebuilt one in the build context is used as is:
# prebuilt/fleet-$TARGETARCH (BuildKit sets TARGETARCH; the release workflow puts its musl
# binaries there), else prebuilt/fleet. Without one, it is compiled here (glibc, +crt-static).
# Symbols are stripped when the stage has `strip` (scripts/action-image.sh strips its copy).
FROM ${RUST_IMAGE} AS fleet
ARG TARGETARCH
COPY . /src
RUN set -eu; cd /src; \
    if [ -n "${TARGETARCH:-}" ] && [ -f "prebuilt/fleet-$TARGETARCH" ]; then \
      cp "prebuilt/fleet-$TARGETARCH" /fleet; \
    elif [ -f prebuilt/fleet ]; then \
      cp prebuilt/fleet /fleet; \
    else \
      triple="$(rustc -vV | sed -n 's/^host: //p')"; \
      RUSTFLAGS="-C target-feature=+crt-static" cargo build --profile dist --locked --bin fleet --target "$triple"; \
      cp "target/$triple/dist/fleet" /fleet; \
    fi; \
    chmod 0755 /fleet; \
    if command -v strip >/dev/null; then strip /fleet; fi; \
    rm -rf /src

# What both images hold: fleet, the docker CLI (with buildx when available), an ssh client and
# git. A base that already has docker, ssh and git (scripts/action-image.sh's) is used as is;
# else they come from apt.
FROM ${BASE_IMAGE} AS runtime
# Set to "false" to leave out the buildx plugin (e.g. a base without Docker's apt repository).
ARG WITH_BUILDX=true
RUN set -eu; \
    if command -v docker >/dev/null && command -v ssh >/dev/null && command -v git >/dev/null; then \
      echo "the base has docker, ssh and git: nothing to install"; \
    else \
      set -x; \
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
      apt-get purge -y --auto-remove gnupg curl; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    git config --system --add safe.directory '*'
COPY --from=fleet /fleet /usr/local/bin/fleet

# The GitHub App: `docker build --target serve .` (scripts/action-image.sh --target serve).
# Configured by its environment (fleet serve --help: GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY,
# GITHUB_WEBHOOK_SECRET, FLEET_DATABASE_URL, ...); deploys need the host's docker socket and an
# SSH directory mounted (examples/replicas/compose.yaml runs two replicas behind haproxy).
# SQLite (the default database) lives under /var/lib/fleetflow: mount a volume there.
FROM runtime AS serve
ENV FLEET_LISTEN=0.0.0.0:8080 \
    XDG_DATA_HOME=/var/lib
EXPOSE 8080
ENTRYPOINT ["fleet", "serve"]

# The Action's image, the default target (GitHub builds the last stage). No USER and no WORKDIR
# (GitHub's rules for container actions).
FROM runtime AS action
ENTRYPOINT ["fleet", "action"]
