# spreadwatch daemon image: the README's install, a non-root user, the SQLite database on a volume.
# PostgreSQL instead: docker run -e SPREADWATCH_DB=postgresql://user@host/db ...
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    SPREADWATCH_CONFIG_DIR=/app/config \
    SPREADWATCH_DB=sqlite:////data/spreadwatch.db

WORKDIR /app
COPY . /app
RUN pip install -e . && useradd --create-home --uid 10001 spreadwatch \
    && mkdir -p /data && chown spreadwatch /data

USER spreadwatch
VOLUME ["/data"]
EXPOSE 8080 9108
# your config: mount it and set SPREADWATCH_CONFIG=/config/spreadwatch.yaml
CMD ["spreadwatch", "run", "--health-port", "9108"]
