# One image for every component; docker-compose picks the `pulse` sub-command per service.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY services ./services
COPY camera_gateway ./camera_gateway
COPY app_events ./app_events
COPY dashboards ./dashboards
COPY infra ./infra
RUN pip install --no-cache-dir . && useradd --system --home /var/lib/pulse pulse && mkdir -p /var/lib/pulse \
    && chown pulse /var/lib/pulse
USER pulse
ENTRYPOINT []
CMD ["pulse", "--help"]
