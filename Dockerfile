# spreadwatch daemon image: the README's install, a non-root user, the SQLite database on a volume.
#   docker build -t spreadwatch .
#   docker run -v spreadwatch-data:/data -v $PWD/my.yaml:/config/spreadwatch.yaml:ro \
#              -e SPREADWATCH_CONFIG=/config/spreadwatch.yaml -p 9108:9108 spreadwatch
# PostgreSQL instead of SQLite: -e SPREADWATCH_DB=postgresql://user@host/db (the driver is installed).
# JSON log lines for a log shipper: -e SPREADWATCH_LOG_JSON=1. The web app from the same image:
#   docker run ... -p 8080:8080 spreadwatch spreadwatch serve --host 0.0.0.0 --port 8080
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    SPREADWATCH_DB=sqlite:////data/spreadwatch.db \
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 SPREADWATCH_CHROMIUM=/usr/bin/chromium

# a font with Latin, Albanian and Cyrillic letters for the timeline PNG (the slim image has none), and
# Debian's Chromium for outlets with `render: true` (Playwright drives it; it never downloads a browser)
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core chromium \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . /app
RUN pip install -e . \
    && useradd --system --create-home --uid 10001 spreadwatch \
    && mkdir -p /data && chown spreadwatch /data

USER spreadwatch
# relative paths (a crawl's HTTP cache) land on the volume, not in the read-only source tree
WORKDIR /data
VOLUME ["/data"]
EXPOSE 9108
# the health server answers 503 when the scheduler stalls, the database is away or no cycle finished
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:9108/healthz', timeout=4)"]
# SIGTERM (docker stop) ends in-flight work within a few seconds, well inside docker's 10 s
CMD ["spreadwatch", "run", "--health-port", "9108", "--health-host", "0.0.0.0"]
