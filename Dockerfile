# The segstream worker / CLI image used by docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY models ./models
COPY rules ./rules
RUN pip install . && useradd --create-home segstream && mkdir -p /data && chown segstream /data
USER segstream
ENV SEGSTREAM_DATA_DIR=/data/worker
ENTRYPOINT ["segstream"]
CMD ["worker"]
