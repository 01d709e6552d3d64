"""Server settings, from the environment (prefix `SAGAN_ATTN_`) or set directly by tests and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.resources import DEFAULT_CHECKPOINT

__all__ = ["Settings", "model_name_for"]

MODEL_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


def model_name_for(checkpoint: Path) -> str:
    """A URL-safe model name from a checkpoint's file (or folder) name: its stem with other characters as '-'."""
    stem = "".join(ch if ch.isalnum() or ch in "_.-" else "-" for ch in checkpoint.stem)
    return stem[:64] or "model"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAGAN_ATTN_", protected_namespaces=())

    checkpoint: Path = Field(DEFAULT_CHECKPOINT, description="model file or folder of any model family to serve")
    generator: str | None = Field(
        None,
        max_length=200,
        description="package.module:factory of your own generator (runs that code); replaces checkpoint",
    )
    generator_args: list[str] = Field(
        default_factory=list, description="key=value arguments for the generator's factory"
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when torch sees it, else the CPU")
    model_name: str | None = Field(None, pattern=MODEL_NAME_PATTERN, description="name in URLs; default: file stem")
    cache_bytes: int | None = Field(
        None, ge=8 * 2**20, le=2**40, description="bound of the sample cache, in bytes; default: 8 samples of the model"
    )
    queue_bound: int = Field(32, ge=1, le=4096, description="new samples waiting or being made at once; then 503")
    figures_waiting: int = Field(2, ge=0, le=1024, description="figures queued behind the one being drawn; then 503")
    analysis_running: int = Field(1, ge=1, le=64, description="γ = 0 samples, effect maps and means made at once")
    analysis_waiting: int = Field(12, ge=0, le=1024, description="of those queued behind; more get 503")
    batch_size: int = Field(1, ge=1, le=64, description="new samples of one truncation made in one forward pass")
    max_matrix_bytes: int = Field(64 * 2**20, ge=0, description="largest full-matrix .npy response, in bytes")
    torch_threads: int = Field(2, ge=1, le=256, description="intra-op threads for forward passes")
    cors_origins: list[str] = Field(default_factory=list, description="origins allowed by CORS; none by default")

    def resolved_model_name(self) -> str:
        return self.model_name or model_name_for(Path(self.generator or self.checkpoint))
