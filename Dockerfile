# The explorer server with the shipped emoji model.
#   docker build -t sagan-attn .
#   docker run --rm -p 8000:8000 sagan-attn
# For a smaller image, point pip at PyTorch's CPU wheel index:
#   docker build --build-arg TORCH_INDEX_URL=<cpu wheel index> -t sagan-attn .
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/sagan-attn

RUN if [ -n "$TORCH_INDEX_URL" ]; then \
        pip install --index-url "$TORCH_INDEX_URL" "torch==${TORCH_VERSION}"; \
    else \
        pip install "torch==${TORCH_VERSION}"; \
    fi

COPY pyproject.toml README.md ./
COPY app ./app
COPY models ./models
COPY static ./static
COPY templates ./templates
RUN pip install -e . && useradd --system --no-create-home explorer

USER explorer
EXPOSE 8000
# Inside a container the server must listen beyond loopback for the published port to reach it.
CMD ["sagan-attn", "serve", "--host", "0.0.0.0", "--port", "8000"]
