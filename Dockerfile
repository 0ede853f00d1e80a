# regogate gateway image. The OPA sidecar runs as its own container (see compose.yaml).
# The recording writer's native steady state (docs/decisions/0008), built apart.
FROM rust:1-slim-bookworm AS writer
WORKDIR /src
COPY native/writer ./
RUN cargo build --release --locked

FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY regogate ./regogate
COPY policies ./policies
COPY reports ./reports
RUN pip install --no-cache-dir .
COPY --from=writer /src/target/release/regogate-writer /usr/local/bin/regogate-writer
RUN useradd --system --home /app regogate
USER regogate
EXPOSE 6432
ENTRYPOINT ["regogate"]
CMD ["serve", "-c", "/etc/regogate/regogate.toml"]
