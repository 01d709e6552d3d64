"""BigGAN-PyTorch weights folders load into our modules and sample exactly as the reference layout does."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from models.biggan_pytorch import BigGANPyTorchConfig, BigGANPyTorchGenerator, attention_layers
from models.capture import AttentionCapture
from models.checkpoint import CheckpointError
from models.families.biggan_pytorch import reference_keys
from models.notebook import open_model
from models.registry import LoadedModel, load
from tests.models.biggan_pytorch_reference import RefGenerator, randomise, run_config, save_run

CASES = {
    "BigGAN.py, hier, attention at 16 and 32": run_config(),
    "BigGAN.py, flat z, two SVs, 64 px": run_config(
        resolution=64, G_ch=2, dim_z=10, shared_dim=0, hier=False, G_attn="32", num_G_SVs=2, n_classes=3
    ),
    "BigGANdeep.py, depth 2, attention at 16 and 32": run_config(
        model="BigGANdeep", G_ch=8, G_depth=2, dim_z=12, shared_dim=6, G_attn="16_32"
    ),
}
SAMPLES = [(0, 0, 1.0), (5, 2, 0.6), (123, 1, 0.3)]  # (seed, class, truncation)


def _reference(run: dict[str, Any], seed: int = 0) -> RefGenerator:
    model = RefGenerator(run)
    randomise(model, seed)
    return model.eval()


@pytest.fixture(scope="module", params=list(CASES))
def saved(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[RefGenerator, Path]:
    run = CASES[request.param]
    reference = _reference(run)
    return reference, save_run(reference, run, tmp_path_factory.mktemp("biggan-pytorch") / "weights")


def _sample(model: LoadedModel, seed: int, class_index: int, truncation: float) -> tuple[torch.Tensor, dict]:
    with torch.inference_mode(), AttentionCapture(model.module, [layer.name for layer in model.layers]) as capture:
        image = model.generate([seed], [class_index], truncation)
    return image, capture.maps


def test_images_and_every_map_equal_the_reference_layout(saved: tuple[RefGenerator, Path]) -> None:
    reference, folder = saved
    model = load(folder)
    assert model.family == "biggan-pytorch" and len(model.layers) == len(
        [m for m in reference.modules() if hasattr(m, "last_map")]
    )
    for seed, class_index, truncation in SAMPLES:
        image, maps = _sample(model, seed, class_index, truncation)
        z = model.latents(seed, class_index, truncation)[None]
        with torch.no_grad():
            expected, expected_maps = reference(z, torch.tensor([class_index]))
        assert 0.05 < expected.std() and expected.abs().lt(0.99).float().mean() > 0.2  # not saturated
        assert (image - expected).abs().max() < 1e-4
        assert len(maps) == len(expected_maps) >= 1
        for layer, expected_map in zip(model.layers, expected_maps, strict=True):
            got = maps[layer.name]
            assert got.shape == expected_map.shape == (1, layer.query_grid**2, layer.key_grid**2)
            assert (got - expected_map).abs().max() < 1e-5


def test_classes_and_seeds_change_the_sample(saved: tuple[RefGenerator, Path]) -> None:
    model = load(saved[1])
    base, _ = _sample(model, 4, 0, 0.8)
    assert (base - _sample(model, 4, 1, 0.8)[0]).abs().max() > 1e-3
    assert (base - _sample(model, 5, 0, 0.8)[0]).abs().max() > 1e-3


def test_z_is_the_truncation_times_the_seeded_normal(saved: tuple[RefGenerator, Path]) -> None:
    model = load(saved[1])
    z_dim = model.inputs.z_dim
    for seed, class_index, truncation in SAMPLES:
        normal = torch.randn(z_dim, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(model.latents(seed, class_index, truncation), normal * truncation)


def test_hier_rounds_dim_z_down_to_whole_chunks() -> None:
    config = BigGANPyTorchConfig.from_reference(run_config(dim_z=18))  # 3 stages + 1 = 4 chunks
    assert config.z_dim == 16 and BigGANPyTorchConfig.from_reference(run_config(dim_z=18, hier=False)).z_dim == 18


def test_g_ema_is_preferred_and_the_file_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run = run_config()
    ema, plain = _reference(run, 0), _reference(run, 1)
    folder = save_run(ema, run, tmp_path / "both")
    torch.save(plain.state_dict(), folder / "G.pth")
    with caplog.at_level(logging.INFO, logger="models.families.biggan_pytorch"):
        model = load(folder)
    assert f"{folder}: loaded G_ema.pth, the EMA copy of G" in caplog.text
    assert model.training["weights"].startswith("G_ema.pth") and model.training["steps"] == 1234
    image, _ = _sample(model, 2, 1, 1.0)
    with torch.no_grad():
        assert (image - ema(model.latents(2, 1, 1.0)[None], torch.tensor([1]))[0]).abs().max() < 1e-4
    (folder / "G_ema.pth").unlink()
    model = load(folder)
    assert model.training["weights"].startswith("G.pth")
    image, _ = _sample(model, 2, 1, 1.0)
    with torch.no_grad():
        assert (image - plain(model.latents(2, 1, 1.0)[None], torch.tensor([1]))[0]).abs().max() < 1e-4


def test_a_multi_gpu_module_prefix_is_accepted(tmp_path: Path) -> None:
    run = run_config()
    reference = _reference(run)
    folder = save_run(reference, run, tmp_path / "parallel")
    torch.save({f"module.{key}": value for key, value in reference.state_dict().items()}, folder / "G_ema.pth")
    image, _ = _sample(load(folder), 1, 3, 0.5)
    with torch.no_grad():
        expected, _ = reference(load(folder).latents(1, 3, 0.5)[None], torch.tensor([3]))
    assert (image - expected).abs().max() < 1e-4


def test_the_notebook_shows_the_z_it_fed(tmp_path: Path) -> None:
    run = run_config()
    model = open_model(save_run(_reference(run), run, tmp_path / "nb"))
    sample = model.sample(9, 2, truncation=0.5)
    normal = torch.randn(16, generator=torch.Generator().manual_seed(9))
    assert sample.z.dtype.name == "float32" and sample.z.shape == (16,)
    assert torch.equal(torch.tensor(sample.z), normal * 0.5)
    assert torch.equal(torch.tensor(model.latents(9, 2, 0.5)), normal * 0.5)


def _release_keys() -> dict[str, tuple[int, ...]]:
    """The keys and shapes of the released ImageNet-128 G_ema.pth, as BigGAN.py and layers.py lay them out."""
    ch, z_chunk, cond = 96, 20, 128 + 20
    keys: dict[str, tuple[int, ...]] = {"shared.weight": (1000, 128)}

    def sn(name: str, shape: tuple[int, ...], bias: bool = True) -> None:
        keys[f"{name}.weight"] = shape
        if bias:
            keys[f"{name}.bias"] = (shape[0],)
        keys[f"{name}.u0"], keys[f"{name}.sv0"] = (1, shape[0]), (1,)

    sn("linear", (16 * ch * 16, z_chunk))
    for i, (cin, cout) in enumerate(zip([16, 16, 8, 4, 2], [16, 8, 4, 2, 1], strict=True)):
        cin, cout = cin * ch, cout * ch
        for bn, channels in (("bn1", cin), ("bn2", cout)):
            keys[f"blocks.{i}.0.{bn}.stored_mean"] = keys[f"blocks.{i}.0.{bn}.stored_var"] = (channels,)
            sn(f"blocks.{i}.0.{bn}.gain", (channels, cond), bias=False)
            sn(f"blocks.{i}.0.{bn}.bias", (channels, cond), bias=False)
        sn(f"blocks.{i}.0.conv1", (cout, cin, 3, 3))
        sn(f"blocks.{i}.0.conv2", (cout, cout, 3, 3))
        sn(f"blocks.{i}.0.conv_sc", (cout, cin, 1, 1))
    attention_channels = 2 * ch  # stage 3 works at 64 × 64
    for name, out, cin in (("theta", 24, 192), ("phi", 24, 192), ("g", 96, 192), ("o", 192, 96)):
        sn(f"blocks.3.1.{name}", (out, cin, 1, 1), bias=False)
    keys["blocks.3.1.gamma"] = ()
    for leaf in ("gain", "bias", "stored_mean", "stored_var"):
        keys[f"output_layer.0.{leaf}"] = (ch,)
    sn("output_layer.2", (3, ch, 3, 3))
    assert attention_channels == 192
    return keys


def test_the_released_imagenet_128_configuration_builds_the_release_keys() -> None:
    run = {
        "model": "BigGAN", "resolution": 128, "n_classes": 1000, "G_ch": 96, "G_attn": "64", "dim_z": 120,
        "shared_dim": 128, "hier": True, "G_shared": True, "SN_eps": 1e-6, "BN_eps": 1e-5, "num_G_SVs": 1,
        "G_activation": nn.ReLU(inplace=True),
    }  # fmt: skip
    config = BigGANPyTorchConfig.from_reference(run)
    assert config.z_dim == 120
    assert reference_keys(config) == _release_keys()
    assert attention_layers(config)[0].name == "blocks.3.1"
    with torch.device("meta"):
        generator = BigGANPyTorchGenerator(config)
    assert [(layer.query_grid, layer.key_grid, layer.channels) for layer in attention_layers(config)] == [(64, 32, 192)]
    assert generator.get_submodule("blocks.3.1").softmax is not None


class BuildsCode:
    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("this ran while loading",))


def _break(folder: Path, case: str, reference: RefGenerator) -> Path:
    state = reference.state_dict()
    if case == "missing state_dict.pth":
        (folder / "state_dict.pth").unlink()
        return folder / "state_dict.pth"
    if case == "wrong shapes":
        torch.save({**state, "linear.weight": torch.zeros(3, 3)}, folder / "G_ema.pth")
    elif case == "missing keys":
        torch.save({k: v for k, v in state.items() if not k.startswith("blocks.2.1")}, folder / "G_ema.pth")
    elif case == "weights pickle that builds code":
        torch.save({**state, "payload": BuildsCode()}, folder / "G_ema.pth")
    elif case == "config pickle that builds code":
        torch.save({"itr": 1, "config": {**run_config(), "payload": BuildsCode()}}, folder / "state_dict.pth")
        return folder / "state_dict.pth"
    elif case == "config holding another module":
        torch.save({"itr": 1, "config": {**run_config(), "G_activation": nn.Linear(2, 2)}}, folder / "state_dict.pth")
        return folder / "state_dict.pth"
    elif case == "plain pickle":
        with (folder / "G_ema.pth").open("wb") as handle:
            pickle.dump({"payload": BuildsCode()}, handle)
    elif case == "unsupported parameterisation":
        torch.save({"itr": 1, "config": run_config(G_param="SVD")}, folder / "state_dict.pth")
        return folder / "state_dict.pth"
    elif case == "output is NaN":
        torch.save({**state, "blocks.1.0.bn2.stored_var": -torch.ones(16)}, folder / "G_ema.pth")
        return folder
    return folder / "G_ema.pth"


@pytest.mark.parametrize(
    ("case", "phrase"),
    [
        ("missing state_dict.pth", "no such file"),
        ("wrong shapes", "wrong shape for the BigGAN of state_dict.pth, e.g. linear.weight is (3, 3)"),
        ("missing keys", "missing 13 (blocks.2.1.g.sv0"),
        ("weights pickle that builds code", "refused, it would build print"),
        ("config pickle that builds code", "refused, it would build print"),
        ("config holding another module", "refused, it would build torch.nn.modules.linear.Linear"),
        ("plain pickle", "weights_only"),
        ("unsupported parameterisation", "G_param='SVD' is not supported"),
        ("output is NaN", "first module whose output is not finite is blocks.1.0.bn2.bn"),
    ],
)
def test_each_bad_folder_gets_one_line_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture, case: str,
                                                       phrase: str) -> None:  # fmt: skip
    run = run_config()
    reference = _reference(run)
    named = _break(save_run(reference, run, tmp_path / "bad"), case, reference)
    with pytest.raises(CheckpointError) as raised:
        load(tmp_path / "bad")
    message = str(raised.value)
    assert "\n" not in message and message.startswith(f"{named}: ") and phrase in message, message
    assert "this ran while loading" not in capsys.readouterr().out
