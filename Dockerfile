# Handoff: the Slack bot in one container.
#
#   docker build -t handoff .
#   docker run --env-file .env -p 3000:3000 -v handoff-data:/data handoff
#
# The database defaults to SQLite in the /data volume; for PostgreSQL pass
# DATABASE_URL=postgresql+psycopg://user:password@host:5432/handoff.
# `python app.py` migrates the database on start.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Time zone data for users' Slack time zones (zoneinfo); newer slim images no longer ship it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tzdata \
    && rm -rf /var/lib/apt/lists/*

# An unprivileged user owning the data directory (before VOLUME, so a new volume inherits it).
RUN groupadd --system --gid 10001 handoff \
    && useradd --system --uid 10001 --gid handoff --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin handoff \
    && mkdir -p /data \
    && chown handoff:handoff /data

WORKDIR /app

COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY app.py alembic.ini manifest.yml ./
COPY migrations/ migrations/
COPY handoff_bot/ handoff_bot/

ENV PORT=3000 \
    DATABASE_URL=sqlite:////data/handoff.db

VOLUME /data
USER handoff
EXPOSE 3000

# Needs the HTTP server to answer GET /healthz on PORT.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

CMD ["python", "app.py"]
