# Front Door as a container image: `frontdoor serve` (HTTP or Socket Mode) by default.
#
#   podman build -t frontdoor .            (or docker build)
#   podman run --rm -e DATABASE_URL=... frontdoor frontdoor db upgrade   # migrations, once
#   podman run -e SLACK_BOT_TOKEN=... -e SLACK_SIGNING_SECRET=... -e DATABASE_URL=... \
#       -p 3000:3000 frontdoor
#
# No secret is baked in: tokens, the signing secret and the database URL come from the
# environment at run time. Where Docker Hub cannot be reached, any Debian 12 image with
# python3 and python3-venv will do as the base: --build-arg BASE=... (.ci/run builds one
# with debootstrap from Debian's mirror).
ARG BASE=python:3.11-slim
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/frontdoor/bin:$PATH \
    PORT=3000 \
    DATABASE_URL=sqlite:////data/frontdoor.db

# The package from this checkout, into its own virtual environment (the tests, the
# bench and the developer tools stay out of the image). Behind a TLS-inspecting proxy,
# mount its CA bundle for the build and name it: -v /etc/ssl/certs/ca-certificates.crt:
# /run/host-ca.crt:ro --build-arg PIP_CERT=/run/host-ca.crt (nothing of it is kept).
ARG PIP_CERT=
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY store ./store
RUN python3 -m venv /opt/frontdoor \
 && /opt/frontdoor/bin/pip install --no-cache-dir --disable-pip-version-check . \
 && rm -rf /src/build

COPY deploy/healthcheck.py /opt/frontdoor/healthcheck.py

# A user with no login and no home worth the name; it owns only /data (SQLite, when
# DATABASE_URL is left as it is) so the process cannot rewrite its own code.
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin \
        frontdoor \
 && mkdir -p /data && chown frontdoor:frontdoor /data
VOLUME ["/data"]
WORKDIR /data
USER frontdoor

EXPOSE 3000
# /readyz (database reachable, migrations at head); a version without it answers /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python3", "/opt/frontdoor/healthcheck.py"]
CMD ["frontdoor", "serve"]
