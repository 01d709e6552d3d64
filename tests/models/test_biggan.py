"""Our BigGAN-deep against the reference package `pytorch-pretrained-biggan` 0.1.1, on small random weights."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pytorch_pretrained_biggan import BigGAN as ReferenceBigGAN
from pytorch_pretrained_biggan import convert_tf_to_pytorch, truncated_noise_sample
from scipy.stats import truncnorm

from models.biggan import (
    BIGGAN_DEEP_CONFIGS,
    BigGANConfig,
    BigGANDeep,
    attention_layers,
    generate,
    load_biggan,
    load_biggan_folder,
    sample_inputs,
    truncated_normal,
)
from models.capture import AttentionCapture, attention_layer_names, count_forward_hooks
from models.checkpoint import CheckpointError
from models.geometry import AttentionLayer
from tests.models.biggan_reference import ATTENTION, SMALL, randomised_reference, write_reference_files

# (seed, class, truncation): stored statistics (1, 0.5, 0.25) and between them (0.6, 0.3, 0.9).
TRIPLES = [(0, 0, 1.0), (1, 3, 0.5), (7, 9, 0.6), (2**32 - 1, 5, 0.3), (12, 1, 0.25), (5, 5, 0.9)]


@pytest.fixture(scope="module")
def reference() -> ReferenceBigGAN:
    return randomised_reference(SMALL)


@pytest.fixture(scope="module")
def folder(reference: ReferenceBigGAN, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_reference_files(reference, tmp_path_factory.mktemp("biggan"))


@pytest.fixture(scope="module")
def ours(folder: Path) -> BigGANDeep:
    return load_biggan_folder(folder)


def reference_attention(reference: ReferenceBigGAN, z: torch.Tensor, one_hot: torch.Tensor, truncation: float):
    """The reference's image, and its attention map computed here from its own θ and φ."""
    layer = reference.generator.layers[SMALL["attention_layer_position"]]
    entering: list[torch.Tensor] = []
    handle = layer.register_forward_pre_hook(lambda module, args: entering.append(args[0]))
    try:
        image = reference(z, one_hot, truncation)
    finally:
        handle.remove()
    (features,) = entering  # (B, C, H, W)
    theta = layer.snconv1x1_theta(features).flatten(2)  # (B, C/8, N)
    phi = F.max_pool2d(layer.snconv1x1_phi(features), 2).flatten(2)  # (B, C/8, N/4)
    return image, torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (B, N, N/4)


@torch.no_grad()
@pytest.mark.parametrize(("seed", "class_index", "truncation"), TRIPLES)
def test_images_and_attention_equal_the_reference(
    reference: ReferenceBigGAN, ours: BigGANDeep, seed: int, class_index: int, truncation: float
) -> None:
    z, one_hot = sample_inputs(seed, class_index, truncation, ours.config)
    expected_image, expected_map = reference_attention(reference, z[None], one_hot[None], truncation)

    with AttentionCapture(ours, [ATTENTION]) as capture:
        image = generate(ours, [seed], [class_index], truncation)
    attention = capture.maps[ATTENTION]

    assert image.shape == (1, 3, 32, 32) and attention.shape == (1, 16 * 16, 8 * 8)
    assert expected_image.std() > 0.1, "a saturated or flat reference image would make the comparison weak"
    assert expected_map.amax() > 4 / 64, "a near-uniform map would make the comparison weak"
    torch.testing.assert_close(image, expected_image, rtol=0, atol=1e-5)
    torch.testing.assert_close(attention, expected_map, rtol=0, atol=1e-5)
    torch.testing.assert_close(attention.sum(-1), torch.ones(1, 256), rtol=0, atol=1e-5)
    assert count_forward_hooks(ours) == 0


@torch.no_grad()
def test_statistics_between_stored_truncations_change_the_image(ours: BigGANDeep) -> None:
    """0.6 lies between the stored 0.5 and 0.75; with z held fixed only the statistics differ."""
    z, one_hot = sample_inputs(3, 2, 1.0, ours.config)
    images = [ours(z[None], one_hot[None], truncation) for truncation in (0.5, 0.6, 0.75)]
    assert (images[0] - images[1]).abs().max() > 1e-3 and (images[1] - images[2]).abs().max() > 1e-3


@torch.no_grad()
def test_a_batch_equals_its_samples_one_by_one(ours: BigGANDeep) -> None:
    batch = generate(ours, [4, 5, 6], [0, 9, 4], 0.7)
    singles = torch.cat([generate(ours, [seed], [index], 0.7) for seed, index in ((4, 0), (5, 9), (6, 4))])
    torch.testing.assert_close(batch, singles, rtol=0, atol=1e-5)


def test_attention_layers_are_data_matching_the_model(ours: BigGANDeep) -> None:
    assert attention_layers(ours.config) == [AttentionLayer(ATTENTION, 32, 16, 8)]
    assert attention_layer_names(ours) == [ATTENTION]


@pytest.mark.parametrize("size", [128, 256, 512])
def test_real_configs_take_the_reference_state_dict(size: int) -> None:
    """Shapes only, on the meta device: the converter's configs, key names and shapes are ours."""
    reference_config = getattr(convert_tf_to_pytorch, f"BigGAN{size}")
    config = BigGANConfig.from_dict(json.loads(reference_config.to_json_string()))
    assert config == BIGGAN_DEEP_CONFIGS[size]
    with torch.device("meta"):
        reference = ReferenceBigGAN(reference_config)
        ours = BigGANDeep(config)
    expected = {key: tuple(tensor.shape) for key, tensor in reference.state_dict().items()}
    assert {key: tuple(tensor.shape) for key, tensor in ours.state_dict().items()} == expected
    ours.load_state_dict(reference.state_dict(), strict=True, assign=True)
    channels = 128 * config.layers[8][1]
    assert attention_layers(config) == [AttentionLayer("generator.layers.8", channels, 64, 32)]
    assert type(reference.generator.layers[8]).__name__ == "SelfAttn"


@pytest.mark.parametrize(
    ("seed", "truncation"),
    [(0, 1.0), (1, 0.4), (7, 0.6), (12, 0.25), (2**31 + 5, 0.9), (2**32 - 1, 0.02), (3, np.float32(0.4))],
)
def test_z_equals_the_packages_truncated_noise_sample(seed: int, truncation: float) -> None:
    expected = truncated_noise_sample(batch_size=1, dim_z=128, truncation=truncation, seed=seed)[0]
    z, _ = sample_inputs(seed, 0, truncation, BIGGAN_DEEP_CONFIGS[128])
    assert z.dtype == torch.float32 and np.array_equal(z.numpy(), expected), (seed, truncation)


def test_truncated_normal_is_bounded_and_a_pure_function_of_the_seed() -> None:
    z = truncated_normal(11, 4096)
    assert z.abs().max() <= 2 and abs(z.std().item() - truncnorm.std(-2, 2)) < 0.03
    assert torch.equal(truncated_normal(11, 4096), z) and not torch.equal(truncated_normal(12, 4096), z)


def test_a_numpy_float_truncation_samples_as_its_python_value(ours: BigGANDeep) -> None:
    seeds, classes = [3, 4], [1, 2]
    assert torch.equal(generate(ours, seeds, classes, np.float32(0.5)), generate(ours, seeds, classes, 0.5))


def test_sample_inputs_scale_z_by_the_truncation_and_one_hot_the_class() -> None:
    config = BigGANConfig.from_dict(SMALL)
    z, one_hot = sample_inputs(9, 4, 0.4, config)
    assert torch.equal(z, truncated_normal(9, 16) * 0.4)
    assert one_hot.tolist() == [1.0 if index == 4 else 0.0 for index in range(10)]


@pytest.mark.parametrize("truncation", [0, 0.0, -0.5, 1.0001, float("nan"), True, "0.5"])
def test_truncation_outside_the_open_closed_unit_interval_is_refused(truncation: object, ours: BigGANDeep) -> None:
    with pytest.raises(ValueError, match=r"truncation must be a number in \(0, 1\]"):
        sample_inputs(0, 0, truncation, ours.config)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="truncation"):
        ours(torch.zeros(1, 16), torch.zeros(1, 10), truncation)  # type: ignore[arg-type]


@pytest.mark.parametrize(("seed", "class_index"), [(0, 10), (0, -1), (-1, 0), (2**32, 0), (0, True)])
def test_seed_and_class_outside_their_ranges_are_refused(seed: int, class_index: int, ours: BigGANDeep) -> None:
    with pytest.raises(ValueError, match="seed|class index"):
        sample_inputs(seed, class_index, 0.5, ours.config)


def test_config_round_trips_and_rejects_bad_layouts() -> None:
    config = BigGANConfig.from_dict(SMALL)
    assert BigGANConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    for change, message in (
        ({"output_dim": 64}, r"output_dim must be 4·2\^3 = 32"),
        ({"attention_layer_position": 6}, "attention_layer_position"),
        ({"layers": [[False, 16, 16], [True, 16, 4], [False, 4, 1]]}, "keep or halve"),
        ({"layers": [[False, 16, 16], [True, "16", 1]]}, r"layers\[1\]"),
        ({"n_stats": 1}, "n_stats"),
    ):
        with pytest.raises(ValueError, match=message):
            BigGANConfig.from_dict({**SMALL, **change})
    with pytest.raises(ValueError, match=r"unknown keys \['depth'\], missing keys \['n_stats'\]"):
        BigGANConfig.from_dict({**{k: v for k, v in SMALL.items() if k != "n_stats"}, "depth": 3})


class CodeOnLoad:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned > /dev/null",))


def _break(folder: Path, case: str) -> Path:
    """Spoil one file of a good model folder; return the file that the error must name."""
    config_path, weights_path = folder / "config.json", folder / "pytorch_model.bin"
    state = torch.load(weights_path, weights_only=True)
    if case == "missing config":
        config_path.unlink()
        return config_path
    if case == "invalid json":
        config_path.write_text('{"output_dim": 32,', encoding="utf-8")
        return config_path
    if case == "config of another architecture":
        config_path.write_text(json.dumps({**SMALL, "output_dim": 64}), encoding="utf-8")
        return config_path
    if case == "missing weights":
        weights_path.unlink()
    elif case == "wrong shapes":
        torch.save(randomised_reference({**SMALL, "channel_width": 16}).state_dict(), weights_path)
    elif case == "missing keys":
        torch.save({k: v for k, v in state.items() if not k.startswith(ATTENTION)}, weights_path)
    elif case == "unexpected keys":
        torch.save({**state, "generator.extra.weight": torch.zeros(2)}, weights_path)
    elif case == "pickle that builds code":
        torch.save({**state, "payload": CodeOnLoad()}, weights_path)
    elif case == "plain pickle that builds code":
        with weights_path.open("wb") as handle:
            pickle.dump({"payload": CodeOnLoad()}, handle)
    elif case == "not a state dict":
        torch.save([torch.zeros(3)], weights_path)
    elif case == "nan":
        torch.save(
            {**state, "generator.gen_z.bias": torch.full_like(state["generator.gen_z.bias"], float("nan"))},
            weights_path,
        )
    return weights_path


@pytest.mark.parametrize(
    ("case", "phrase"),
    [
        ("missing config", "no such file"),
        ("invalid json", "not valid JSON"),
        ("config of another architecture", "output_dim must be"),
        ("missing weights", "no such file"),
        ("wrong shapes", "wrong shape"),
        ("missing keys", "BigGAN-deep of config.json: missing 13 (generator.layers.3.gamma"),
        ("unexpected keys", "of config.json: unexpected 1 (generator.extra.weight)"),
        ("pickle that builds code", "refused, it would build"),
        ("plain pickle that builds code", "weights_only"),
        ("not a state dict", "not a state dict"),
        ("nan", "NaN"),
    ],
)
def test_each_bad_file_gets_one_line_naming_it(reference: ReferenceBigGAN, tmp_path: Path, case: str, phrase: str):
    folder = write_reference_files(reference, tmp_path / "model")
    named = _break(folder, case)
    with pytest.raises(CheckpointError) as raised:
        load_biggan(folder / "config.json", folder / "pytorch_model.bin")
    message = str(raised.value)
    assert "\n" not in message and message.startswith(f"{named}: ") and phrase in message, message


def test_folder_and_two_paths_load_the_same_model(folder: Path, tmp_path: Path) -> None:
    config_copy, weights_copy = tmp_path / "biggan-config.json", tmp_path / "biggan-weights"
    config_copy.write_bytes((folder / "config.json").read_bytes())
    weights_copy.write_bytes((folder / "pytorch_model.bin").read_bytes())
    a, b = load_biggan_folder(folder), load_biggan(config_copy, weights_copy)
    assert not a.training and all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    with pytest.raises(CheckpointError, match="no such folder"):
        load_biggan_folder(tmp_path / "absent")
