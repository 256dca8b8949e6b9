# The sru image: every server component and the exporter (`sru adapter`, `sru alert-receiver`,
# `sru optimize`, `sru db migrate`, `sru exporter`, ...). Built by docker-compose.yml.
# One stage: every dependency ships as a wheel for this base, so no compiler is needed, and the
# copied source (a few hundred KiB, see .dockerignore) is removed after the install.
# Works with the classic builder (docker-compose 1.x) and BuildKit alike.
FROM python:3.12.7-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY . /tmp/sru-src
RUN cd /tmp/sru-src \
 && pip install '.[server,exporter]' \
 && cd / && rm -rf /tmp/sru-src \
 && useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sru
USER 10001
ENTRYPOINT ["sru"]
CMD ["--help"]
