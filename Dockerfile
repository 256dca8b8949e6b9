# The sru image: every server component and the exporter (`sru adapter`, `sru alert-receiver`,
# `sru optimize`, `sru db migrate`, `sru exporter`, ...). Built by docker-compose.yml.
# Wheels are built in a throwaway stage, so the final image carries no build tools or caches.
FROM python:3.12.7-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY . .
RUN pip wheel --wheel-dir /wheels '.[server,exporter]'

FROM python:3.12.7-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels 'sru[server,exporter]' \
 && useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sru
USER 10001
ENTRYPOINT ["sru"]
CMD ["--help"]
