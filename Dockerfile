# One image for every component; docker-compose picks the `pulse` sub-command per service.
# The dashboard's front-end libraries come from the npm registry at build time (never kept in the repository).
FROM node:20-slim AS web
WORKDIR /web
COPY dashboards/web/package.json dashboards/web/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PULSE_WEB_DIR=/app/dashboards/web
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY services ./services
COPY camera_gateway ./camera_gateway
COPY app_events ./app_events
COPY dashboards ./dashboards
COPY --from=web /web/node_modules ./dashboards/web/node_modules
COPY infra ./infra
RUN pip install --no-cache-dir . && useradd --system --home /var/lib/pulse pulse && mkdir -p /var/lib/pulse \
    && chown pulse /var/lib/pulse
USER pulse
ENTRYPOINT []
CMD ["pulse", "--help"]
