# syntax=docker/dockerfile:1
# Build stage: install Killwatch and its dependencies into a virtualenv; the image that runs
# gets only that virtualenv, not pip's caches or the build tree.
FROM python:3.12-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/killwatch
WORKDIR /src
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY bot ./bot
COPY cogs ./cogs
COPY migrations ./migrations
RUN /opt/killwatch/bin/pip install .

FROM python:3.12-slim
ENV PATH=/opt/killwatch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KILLWATCH_CONFIG=/app/config.toml \
    KILLWATCH_OPS__HOST=0.0.0.0 \
    KILLWATCH_OPS__PORT=8080 \
    KILLWATCH_LOGGING__FORMAT=keyvalue
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin killwatch \
    && mkdir -p /app/data && chown killwatch /app/data
COPY --from=build /opt/killwatch /opt/killwatch
# The commented example doubles as the default config; mount your own over /app/config.toml.
COPY config.example.toml /app/config.toml
WORKDIR /app
USER killwatch

# SQLite database, SDE updates and other state live here: keep it on a volume.
VOLUME ["/app/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["killwatch", "health", "--timeout", "8"]
# The token comes from the environment (DISCORD_TOKEN) or a mounted secret file
# (discord.token_file); without one Killwatch runs in console mode and prints kills.
CMD ["sh", "-c", "killwatch migrate && exec killwatch run"]
