# regogate gateway image. The OPA sidecar runs as its own container (see compose.yaml).
# The recording writer's native steady state (docs/decisions/0008) and the recording hot
# path, a Python extension (docs/decisions/0009; abi3: no Python needed to build it).
FROM rust:1-slim-bookworm AS writer
WORKDIR /src
COPY native/writer ./writer
COPY native/hotpath ./hotpath
RUN cargo build --release --locked --manifest-path writer/Cargo.toml \
    && PYO3_NO_PYTHON=1 cargo build --release --locked --manifest-path hotpath/Cargo.toml

FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY regogate ./regogate
COPY --from=writer /src/hotpath/target/release/lib_native.so ./regogate/_native.abi3.so
COPY policies ./policies
COPY reports ./reports
RUN pip install --no-cache-dir .
COPY --from=writer /src/writer/target/release/regogate-writer /usr/local/bin/regogate-writer
RUN useradd --system --home /app regogate
USER regogate
EXPOSE 6432
ENTRYPOINT ["regogate"]
CMD ["serve", "-c", "/etc/regogate/regogate.toml"]
