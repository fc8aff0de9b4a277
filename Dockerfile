# access-requests — container image.
#
#   docker build -t access-requests .
#   docker run --rm -p 8080:8080 -e JWT_HS256_SECRET=dev-secret-at-least-32-bytes-long access-requests
#
# Without DATABASE_URL the service keeps an SQLite file in its working
# directory (/var/lib/access-requests); mount a volume there to keep it, or set
# DATABASE_URL=postgres://… (see docker-compose.yml).

# ---- build -----------------------------------------------------------------
FROM rust:1-bookworm AS builder

# pq-sys is built with its `bundled` feature (no system libpq) but still links
# the system OpenSSL, so the builder needs the OpenSSL headers and pkg-config.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
RUN cargo build --release --locked \
    && install -m 0755 target/release/access-requests /usr/local/bin/access-requests

# ---- runtime ---------------------------------------------------------------
FROM debian:bookworm-slim

# ca-certificates: TLS to JWKS and webhook targets; libssl3: linked by pq-sys.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /var/lib/access-requests \
        --no-create-home --shell /usr/sbin/nologin app \
    && install -d -o app -g app -m 0750 /var/lib/access-requests

COPY --from=builder /usr/local/bin/access-requests /usr/local/bin/access-requests

USER 10001:10001
WORKDIR /var/lib/access-requests

ENV LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080

ENTRYPOINT ["access-requests"]
CMD ["serve"]
