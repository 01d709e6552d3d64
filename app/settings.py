"""Server settings, from the environment (prefix `SAGAN_ATTN_`) or set directly by tests and the CLI."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_CHECKPOINT", "PROJECT_ROOT", "Settings"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHECKPOINT = PROJECT_ROOT / "models" / "emoji_sagan.pt"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAGAN_ATTN_", protected_namespaces=())

    checkpoint: Path = Field(DEFAULT_CHECKPOINT, description="model file to serve")
    model_name: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="name in URLs; default: file stem"
    )
    cache_bytes: int = Field(32 * 2**20, ge=8 * 2**20, le=2**40, description="bound of the sample cache, in bytes")
    max_matrix_bytes: int = Field(64 * 2**20, ge=0, description="largest full-matrix .npy response, in bytes")
    torch_threads: int = Field(2, ge=1, le=256, description="intra-op threads for forward passes")
    cors_origins: list[str] = Field(default_factory=list, description="origins allowed by CORS; none by default")

    def resolved_model_name(self) -> str:
        if self.model_name:
            return self.model_name
        stem = "".join(ch if ch.isalnum() or ch in "_.-" else "-" for ch in self.checkpoint.stem)
        return stem[:64] or "model"
