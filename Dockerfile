# The FinanceLake image: Python 3.11, a Java 17 runtime, the package, and the Delta, Kafka-connector
# and broker jars. Everything is resolved at build time by the set-up script `make` runs
# (scripts/setup.sh reads pyproject.toml and jvm/pom.xml); a container downloads nothing.
#
#   docker build -t financelake:0.1.0 .
#   docker run --rm financelake:0.1.0 status --lake-root /data/lake
#
# The same image runs every FinanceLake process of compose.yaml, and the Spark master and worker
# (`spark-class` of the installed pyspark), so driver and executors share one Spark version.
#
# Needs BuildKit (cache and secret mounts) and only its built-in Dockerfile frontend: no `syntax`
# line, so nothing is pulled but the base image. PYTHON_IMAGE may be any Debian bookworm image with
# Python 3.11 as `python` (docker/base-image.sh makes one from Debian's packages alone).
#
# Behind a TLS-inspecting proxy, hand the build your CA bundle (PEM, for pip) and a Java trust
# store (for Maven) as secrets; both are optional and never stored in the image:
#   DOCKER_BUILDKIT=1 docker build --secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt \
#       --secret id=java-cacerts,src=/etc/ssl/certs/java/cacerts -t financelake:0.1.0 .

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---- build: pip and Maven, run by scripts/setup.sh ----------------------------------------------
FROM ${PYTHON_IMAGE} AS build

# Maven only lives in this stage. Debian's maven pulls in the distribution's Java 17 runtime.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends maven \
 && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv

WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY jvm/pom.xml jvm/pom.xml
COPY scripts/ scripts/
COPY src/ src/
# --no-venv: install into this stage's interpreter (/opt/venv, first on PATH); the jars land in
# /app/.jars. No class-data archive: it belongs to one JDK, and this stage's is Maven's. The
# cache mounts only speed up rebuilds; they are not part of the image.
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=cache,target=/root/.m2 \
    --mount=type=secret,id=ca-bundle \
    --mount=type=secret,id=java-cacerts \
    if [ -f /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
 && if [ -f /run/secrets/java-cacerts ]; then \
        export MAVEN_OPTS="-Djavax.net.ssl.trustStore=/run/secrets/java-cacerts"; \
    fi \
 && FINANCELAKE_CLASS_ARCHIVE=false scripts/setup.sh --no-venv \
 && python -m compileall -q src

# ---- runtime ----------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# /data/lake and /data/kafka exist, owned by `finance`, so fresh named volumes mounted there are too.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && groupadd --gid 10001 finance \
 && useradd --uid 10001 --gid finance --create-home --shell /usr/sbin/nologin finance \
 && mkdir -p /data/lake /data/kafka \
 && chown -R finance:finance /data

# The venv holds an editable install pointing at /app/src, so both keep their build-stage paths.
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
COPY docker/healthcheck.py /app/docker/healthcheck.py

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SPARK_HOME=/opt/venv/lib/python3.11/site-packages/pyspark \
    PYSPARK_PYTHON=/opt/venv/bin/python \
    SPARK_WORKER_DIR=/tmp/spark-worker \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    FINANCELAKE_JARS_DIR=/app/.jars \
    FINANCELAKE_LAKE_ROOT=/data/lake

# Fail the build, not the first container, if the CLI or the baked-in jars are broken.
RUN financelake --help > /dev/null && python /app/docker/healthcheck.py image

USER finance
WORKDIR /home/finance
EXPOSE 8501 4040

HEALTHCHECK --interval=30s --timeout=20s --start-period=120s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py"]
ENTRYPOINT ["financelake"]
CMD ["--help"]
