# The segstream worker / CLI image used by docker-compose.yml and deploy/kubernetes.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# Dependencies first, in their own layer: a code change rebuilds only the layers below. Every
# package, pip and the build backend included, is checked against the lock's hashes
# (scripts/lock.sh writes it; the dev tools are left out of the image).
COPY requirements-runtime.lock ./
RUN pip install --require-hashes -r requirements-runtime.lock
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY models ./models
COPY rules ./rules
# uid 1000 as before (volumes made by older images stay writable); numeric below, so Kubernetes'
# runAsNonRoot can check it.
RUN pip install --no-deps --no-build-isolation . \
    && useradd --create-home --uid 1000 segstream && mkdir -p /data && chown segstream /data
USER 1000
ENV SEGSTREAM_DATA_DIR=/data/worker
ENTRYPOINT ["segstream"]
CMD ["worker"]
