from __future__ import annotations

import os
import pickle
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from models.checkpoint import CHECKPOINT_FORMAT, CheckpointError, load_checkpoint, save_checkpoint
from models.sagan import Discriminator, Generator, SAGANConfig, sample_latents


def test_round_trip_keeps_config_metadata_and_outputs(
    tmp_path: Path, tiny_config: SAGANConfig, generator: Generator
) -> None:
    path = tmp_path / "model.pt"
    training = {"steps": 42, "data": "emoji", "licence": "CC-BY 4.0", "attribution": "someone"}
    save_checkpoint(path, tiny_config, generator, Discriminator(tiny_config), training)

    raw = torch.load(path, weights_only=True)
    assert raw["format"] == CHECKPOINT_FORMAT and raw["config"] == tiny_config.to_dict()

    loaded = load_checkpoint(path)
    assert loaded.config == tiny_config
    assert loaded.training == training
    assert loaded.discriminator is not None and not loaded.generator.training
    z = sample_latents([9], tiny_config.z_dim)
    with torch.no_grad():
        torch.testing.assert_close(loaded.generator(z), generator(z))


def test_an_older_checkpoint_without_the_newer_config_keys_loads_as_the_reference_layout(
    tmp_path: Path, tiny_config: SAGANConfig
) -> None:
    """Files saved before `attn_key_pool` and `g_blocks` existed (e.g. the first default model) still load."""
    reference_layout = replace(tiny_config, attn_key_pool=1, g_blocks="transposed")
    torch.manual_seed(3)
    model = Generator(reference_layout).eval()
    older_config = {
        key: value for key, value in reference_layout.to_dict().items() if key not in ("attn_key_pool", "g_blocks")
    }
    path = tmp_path / "older.pt"
    torch.save(_payload(reference_layout, model, config=older_config), path)

    loaded = load_checkpoint(path)
    assert loaded.config == reference_layout
    z = sample_latents([4, 5], reference_layout.z_dim)
    with torch.no_grad():
        torch.testing.assert_close(loaded.generator(z), model(z), rtol=0, atol=0)


def _payload(architecture: SAGANConfig, model: Generator, **overrides: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "format": CHECKPOINT_FORMAT,
        "config": architecture.to_dict(),
        "generator": model.state_dict(),
        "discriminator": None,
        "training": {},
    }
    payload.update(overrides)
    return payload


class CodeOnLoad:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned > /dev/null",))


def _write(tmp_path: Path, case: str, tiny_config: SAGANConfig, generator: Generator) -> Path:
    path = tmp_path / f"{case}.pt"
    state = generator.state_dict()
    if case == "missing":
        return path
    if case == "truncated":
        torch.save(_payload(tiny_config, generator), path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif case == "not_torch":
        path.write_text("hello, I am a text file\n")
    elif case == "not_checkpoint":
        torch.save({"weights": torch.zeros(3)}, path)
    elif case == "pickle_code":
        with path.open("wb") as handle:
            pickle.dump({"format": CHECKPOINT_FORMAT, "payload": CodeOnLoad()}, handle)
    elif case == "torch_code":
        torch.save({"format": CHECKPOINT_FORMAT, "payload": CodeOnLoad()}, path)
    elif case == "wrong_architecture":
        torch.save(_payload(tiny_config, generator, config={**tiny_config.to_dict(), "image_size": 128}), path)
    elif case == "unknown_config_key":
        torch.save(_payload(tiny_config, generator, config={**tiny_config.to_dict(), "layers": 99}), path)
    elif case == "missing_keys":
        torch.save(
            _payload(tiny_config, generator, generator={k: v for k, v in state.items() if not k.startswith("attn2")}),
            path,
        )
    elif case == "extra_keys":
        torch.save(_payload(tiny_config, generator, generator={**state, "attn3.gamma": torch.zeros(1)}), path)
    elif case == "wrong_shapes":
        bigger = Generator(SAGANConfig(z_dim=16, g_conv_dim=24, d_conv_dim=16)).state_dict()
        torch.save(_payload(tiny_config, generator, generator=bigger), path)
    elif case == "other_format":
        torch.save(_payload(tiny_config, generator, format="somebody-else/9"), path)
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such file"),
        ("truncated", "not a readable torch file"),
        ("not_torch", "not a readable torch file"),
        ("not_checkpoint", "not a checkpoint"),
        ("pickle_code", "not a torch checkpoint that loads with weights_only=True"),
        ("torch_code", "refused, it would build posix.system"),
        ("wrong_architecture", "wrong architecture: image_size must be 64"),
        ("unknown_config_key", "unknown config keys ['layers']"),
        ("missing_keys", "Missing key(s)"),
        ("extra_keys", "Unexpected key(s)"),
        ("wrong_shapes", "size mismatch"),
        ("other_format", "unsupported checkpoint format"),
    ],
)
def test_bad_files_fail_with_one_line_naming_the_file(
    tmp_path: Path, case: str, message: str, tiny_config: SAGANConfig, generator: Generator
) -> None:
    path = _write(tmp_path, case, tiny_config, generator)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(str(path))
    assert message in text
