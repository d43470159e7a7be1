FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md alembic.ini config.example.toml ./
COPY engine ./engine
COPY bot ./bot
COPY cogs ./cogs
COPY migrations ./migrations
RUN pip install --no-cache-dir . && useradd --create-home killwatch && mkdir /app/data \
    && chown killwatch /app/data
USER killwatch

# The token comes from the environment (DISCORD_TOKEN) or a mounted secret file.
ENV KILLWATCH_CONFIG=/app/config.example.toml
VOLUME ["/app/data"]
CMD ["sh", "-c", "killwatch migrate && exec killwatch run"]
