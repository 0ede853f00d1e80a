# regogate gateway image. The OPA sidecar runs as its own container (see compose.yaml).
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY regogate ./regogate
COPY policies ./policies
COPY reports ./reports
RUN pip install --no-cache-dir .
RUN useradd --system --home /app regogate
USER regogate
EXPOSE 6432
ENTRYPOINT ["regogate"]
CMD ["serve", "-c", "/etc/regogate/regogate.toml"]
