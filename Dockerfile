# The explorer server with the shipped emoji model.
#   docker build -t sagan-attn .
#   docker run --rm -p 8000:8000 sagan-attn
# Torch comes from PyTorch's CPU wheel index: PyPI's Linux wheel pulls several GB of CUDA libraries.
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib

WORKDIR /build

RUN pip install --extra-index-url "$TORCH_INDEX_URL" "torch==${TORCH_VERSION}+cpu"

COPY pyproject.toml README.md ./
COPY app ./app
COPY models ./models
COPY static ./static
COPY templates ./templates
# A regular (non-editable) install: the page, its templates and the weights are package data.
RUN pip install . && cd / && rm -rf /build && useradd --system --no-create-home explorer
WORKDIR /srv

USER explorer
EXPOSE 8000
# Inside a container the server must listen beyond loopback for the published port to reach it.
CMD ["sagan-attn", "serve", "--host", "0.0.0.0", "--port", "8000"]
