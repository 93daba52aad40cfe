# Kyso: the same service `make run` starts, in a Debian slim image, as a non-root user.
#   docker build -t kyso .
#   docker run -p 8080:8080 -v kyso-var:/app/var kyso
# The token, PINs and SQLite database live in the /app/var volume; set KYSO_DATABASE__URL for
# PostgreSQL and KYSO_HSM__MODULE (plus its client files) for a network HSM.
FROM python:3.11-slim-bookworm

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_LINK_MODE=copy

RUN apt-get update \
 && apt-get install -y --no-install-recommends softhsm2 opensc openssl ca-certificates fonts-liberation2 poppler-utils \
 && rm -rf /var/lib/apt/lists/* \
 && pip install --no-cache-dir uv \
 && useradd --system --create-home --home-dir /home/kyso --uid 10001 kyso

WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY kyso ./kyso
COPY hsm ./hsm
COPY ca_admin ./ca_admin
COPY signer ./signer
COPY verification ./verification
COPY axis ./axis
COPY app ./app
COPY config ./config
COPY scripts ./scripts
RUN uv sync --frozen --no-dev \
 && mkdir -p /app/var && chown -R kyso:kyso /app/var

USER kyso
# Listen on all interfaces inside the container; publish the port to choose who reaches it.
ENV KYSO_SERVER__BIND=0.0.0.0:8080 \
    SOFTHSM2_CONF=/app/var/softhsm2.conf
VOLUME ["/app/var"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
ENTRYPOINT ["scripts/container-entrypoint.sh"]
