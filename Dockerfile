# regogate gateway image. One container runs the gateway and its OPA sidecar: `regogate
# serve` starts `opa run` as a child process listening on a unix socket in a private
# directory under /tmp, so OPA has no network address at all (regogate/policy/sidecar.py).
# Runs as uid 10001 on a read-only root filesystem; what it writes goes to /tmp and the
# volumes under /var/lib/regogate (compose.yaml, deploy/helm/regogate).

# The recording writer's native steady state (docs/decisions/0008) and the recording hot
# path, a Python extension (docs/decisions/0009; abi3: no Python needed to build it).
FROM rust:1-slim-bookworm AS writer
WORKDIR /src
COPY native/writer ./writer
COPY native/hotpath ./hotpath
RUN cargo build --release --locked --manifest-path writer/Cargo.toml \
    && PYO3_NO_PYTHON=1 cargo build --release --locked --manifest-path hotpath/Cargo.toml

# OPA's own static build, the release scripts/setup.sh builds for development
FROM openpolicyagent/opa:1.22.2-static AS opa

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp
# openssl: `regogate-entrypoint init` makes the self-signed listener certificate (not
# version-pinned: a rebuild takes Debian's security updates)
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY regogate ./regogate
COPY --from=writer /src/hotpath/target/release/lib_native.so ./regogate/_native.abi3.so
COPY policies ./policies
COPY reports ./reports
RUN pip install --no-cache-dir .
COPY --from=writer /src/writer/target/release/regogate-writer /usr/local/bin/regogate-writer
COPY --from=opa /opa /usr/local/bin/opa
COPY deploy/docker/entrypoint.sh /usr/local/bin/regogate-entrypoint
# A numeric uid, so that Kubernetes' runAsNonRoot can check it. The directories are the
# mount points of the volumes: a new named volume takes their owner and mode.
RUN groupadd --system --gid 10001 regogate \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin regogate \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/regogate/recordings \
       /var/lib/regogate/keys /var/lib/regogate/tls /var/lib/regogate/anchor \
    && install -d -m 0755 /etc/regogate \
    && chmod 0755 /usr/local/bin/regogate-entrypoint /usr/local/bin/opa
USER 10001:10001
EXPOSE 6432
# the listener accepts TCP: enough for a liveness check (a session needs a token)
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import socket; socket.create_connection(('127.0.0.1', 6432), 2).close()"]
ENTRYPOINT ["regogate-entrypoint"]
CMD ["serve"]
