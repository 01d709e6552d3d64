"""StudioGAN runs, written in StudioGAN's own layout and file format, load through our registry exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from models.checkpoint import CheckpointError
from models.registry import load
from tests.models.studiogan_reference import ReferenceGenerator, randomise, save_generator, write_yaml

BASE: dict[str, Any] = {
    "dataset": "CIFAR10",
    "img_size": 32,
    "num_classes": 10,
    "apply_g_sn": True,
    "g_act_fn": "ReLU",
    "apply_attn": True,
    "z_dim": 16,
    "g_conv_dim": 8,
}
CASES: dict[str, dict[str, Any]] = {
    "deep_conv-cBN": {"backbone": "deep_conv", "g_cond_mtd": "cBN", "attn_g_loc": [2, 3], "z_dim": 12},
    "deep_conv-W/O": {"backbone": "deep_conv", "g_cond_mtd": "W/O", "attn_g_loc": [1], "g_act_fn": "ELU"},
    "resnet-cBN": {"backbone": "resnet", "g_cond_mtd": "cBN", "attn_g_loc": [1, 3]},
    "resnet-W/O-64": {
        "backbone": "resnet",
        "g_cond_mtd": "W/O",
        "img_size": 64,
        "attn_g_loc": [2, 3],
        "g_act_fn": "Leaky_ReLU",
    },
    "resnet-cBN-plain": {"backbone": "resnet", "g_cond_mtd": "cBN", "attn_g_loc": [2], "apply_g_sn": False},
    "big_resnet-cBN": {
        "backbone": "big_resnet",
        "g_cond_mtd": "cBN",
        "attn_g_loc": [1, 2],
        "z_dim": 20,
        "g_shared_dim": 6,
    },
    "big_resnet-W/O": {"backbone": "big_resnet", "g_cond_mtd": "W/O", "attn_g_loc": [2], "z_dim": 20},
    "deep_legacy-cBN": {
        "backbone": "big_resnet_deep_legacy",
        "g_cond_mtd": "cBN",
        "attn_g_loc": [1, 3],
        "g_conv_dim": 16,
        "g_shared_dim": 6,
        "g_depth": 2,
    },
    "deep_studiogan-cBN-64": {
        "backbone": "big_resnet_deep_studiogan",
        "g_cond_mtd": "cBN",
        "img_size": 64,
        "attn_g_loc": [2, 3],
        "g_shared_dim": 6,
        "g_depth": 2,
        "g_act_fn": "GELU",
    },
}
SEEDS = [0, 5, 11]
CLASSES = [3, 0, 9]


def settings(case: str) -> dict[str, Any]:
    return {**BASE, **CASES[case]}


def z_of(seeds: list[int], z_dim: int) -> torch.Tensor:
    return torch.stack([torch.randn(z_dim, generator=torch.Generator().manual_seed(seed)) for seed in seeds])


def write_run(
    folder: Path, s: dict[str, Any], seed: int = 0, name: str = "model=G_ema-best-weights-step=4000.pth"
) -> ReferenceGenerator:
    folder.mkdir(parents=True, exist_ok=True)
    reference = randomise(ReferenceGenerator(s), seed)
    write_yaml(folder, s)
    save_generator(reference, folder / name)
    return reference


@pytest.mark.parametrize("case", list(CASES))
def test_each_backbone_matches_its_reference_layout(case: str, tmp_path: Path) -> None:
    s = settings(case)
    reference = write_run(tmp_path, s)
    model = load(tmp_path)
    conditional = s["g_cond_mtd"] == "cBN"
    classes = CLASSES if conditional else None
    assert model.family == "studiogan" and model.image_size == s["img_size"]
    assert model.inputs.conditional is conditional and model.inputs.z_dim == s["z_dim"]
    attention = reference.attention_modules()
    assert [layer.name for layer in model.layers] == list(attention)
    assert len(model.layers) == len(s["attn_g_loc"])
    assert [layer.gamma for layer in model.layers] == pytest.approx([m.sigma.item() for m in attention.values()])

    z = z_of(SEEDS, s["z_dim"])
    labels = torch.tensor(CLASSES) if conditional else None
    with torch.no_grad():
        expected = reference(z, labels)
        images = model.generate(SEEDS, classes, None)
    assert expected.std() > 0.05  # the weights make a real image, not a constant
    torch.testing.assert_close(images, expected, rtol=0, atol=1e-4)

    for index, seed in enumerate(SEEDS):
        for module in attention.values():
            module.seen.clear()
        with torch.no_grad():
            reference(z[index : index + 1], None if labels is None else labels[index : index + 1])
        image, maps = model.capture(seed, CLASSES[index] if conditional else None)
        for name, module in attention.items():
            theta, phi = module.seen[0]  # (1, C/8, N), (1, C/8, M)
            wanted = torch.softmax(theta[0].t() @ phi[0], dim=-1)  # (N, M)
            layer = next(layer for layer in model.layers if layer.name == name)
            assert maps[name].shape == (layer.query_grid**2, layer.key_grid**2) == tuple(wanted.shape)
            torch.testing.assert_close(torch.from_numpy(maps[name].copy()), wanted, rtol=0, atol=1e-5)


def test_a_folder_prefers_g_ema_and_best_and_says_which(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = settings("resnet-cBN")
    names = {
        "model=G-best-weights-step=3000.pth": 1,
        "model=G-current-weights-step=5000.pth": 2,
        "model=G_ema-current-weights-step=5000.pth": 3,
        "model=G_ema-best-weights-step=3000.pth": 4,
        "model=D-best-weights-step=3000.pth": 5,
    }
    references = {name: write_run(tmp_path, s, seed, name) for name, seed in names.items()}
    with caplog.at_level("INFO", logger="models.families.studiogan"):
        model = load(tmp_path)
    chosen = "model=G_ema-best-weights-step=3000.pth"
    assert model.path == tmp_path / chosen and model.config["generator_file"] == chosen
    assert model.training["steps"] == 3000 and (model.training["generator"], model.training["checkpoint"]) == (
        "G_ema",
        "best",
    )
    assert chosen in caplog.text and "G_ema, best" in caplog.text
    with torch.no_grad():
        expected = references[chosen](z_of([2], s["z_dim"]), torch.tensor([1]))
    torch.testing.assert_close(model.generate([2], [1], None), expected, rtol=0, atol=1e-4)

    (tmp_path / chosen).unlink()
    (tmp_path / "model=G_ema-current-weights-step=5000.pth").unlink()
    assert load(tmp_path).path.name == "model=G-best-weights-step=3000.pth"


def test_one_generator_file_beside_its_yaml_loads_and_module_prefix_is_dropped(tmp_path: Path) -> None:
    s = settings("big_resnet-cBN")
    reference = randomise(ReferenceGenerator(s), 3)
    write_yaml(tmp_path, s)
    path = save_generator(reference, tmp_path / "model=G-current-weights-step=10.pth", prefix="module.")
    model = load(path)
    assert model.path == path and model.training["generator"] == "G"
    with torch.no_grad():
        expected = reference(z_of([7], s["z_dim"]), torch.tensor([4]))
    torch.testing.assert_close(model.generate([7], [4], None), expected, rtol=0, atol=1e-4)


def test_class_names_follow_the_dataset(tmp_path: Path) -> None:
    write_run(tmp_path / "c10", settings("resnet-cBN"))
    names = load(tmp_path / "c10").inputs.class_names
    assert names is not None and names[0] == "airplane" and names[9] == "truck" and len(names) == 10
    assert load(tmp_path / "c10").inputs.resolve("airplane", None) == (0, None)

    write_run(tmp_path / "c100", {**settings("resnet-cBN"), "dataset": "CIFAR100", "num_classes": 100})
    names = load(tmp_path / "c100").inputs.class_names
    assert names is not None and len(set(names)) == 100 and list(names) == sorted(names)
    assert names[0] == "apple" and names[99] == "worm"

    write_run(tmp_path / "baby", {**settings("resnet-cBN"), "dataset": "Baby_ImageNet", "num_classes": 12})
    assert load(tmp_path / "baby").inputs.class_names == tuple(str(i) for i in range(12))
    write_run(tmp_path / "uncond", settings("resnet-W/O-64"))
    assert load(tmp_path / "uncond").inputs.class_names is None


def _one_line(error: pytest.ExceptionInfo[CheckpointError], path: Path) -> str:
    message = str(error.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_a_yaml_that_names_no_backbone_is_one_line(tmp_path: Path) -> None:
    write_run(tmp_path, settings("resnet-cBN"))
    (tmp_path / "run.yaml").write_text("DATA:\n  name: CIFAR10\nOPTIMIZATION:\n  batch_size: 64\n", encoding="utf-8")
    with pytest.raises(CheckpointError) as error:
        load(tmp_path)
    assert "no MODEL section, so it names no backbone" in _one_line(error, tmp_path / "run.yaml")

    (tmp_path / "run.yaml").write_text("MODEL:\n  backbone: stylegan2\n", encoding="utf-8")
    with pytest.raises(CheckpointError) as error:
        load(tmp_path)
    assert "backbone 'stylegan2' is not one we load" in _one_line(error, tmp_path / "run.yaml")


def test_a_generator_file_without_state_dict_is_one_line(tmp_path: Path) -> None:
    s = settings("resnet-cBN")
    write_yaml(tmp_path, s)
    path = tmp_path / "model=G-best-weights-step=1.pth"
    torch.save(ReferenceGenerator(s).state_dict(), path)
    with pytest.raises(CheckpointError) as error:
        load(tmp_path)
    assert "expected a dict with 'state_dict'" in _one_line(error, path)


def test_wrong_shapes_are_one_line(tmp_path: Path) -> None:
    write_run(tmp_path, {**settings("resnet-cBN"), "g_conv_dim": 16})
    write_yaml(tmp_path, settings("resnet-cBN"))  # the YAML now says g_conv_dim 8
    path = tmp_path / "model=G_ema-best-weights-step=4000.pth"
    with pytest.raises(CheckpointError) as error:
        load(tmp_path)
    assert "wrong shape" in _one_line(error, path)


def test_missing_keys_are_one_line(tmp_path: Path) -> None:
    write_run(tmp_path, settings("resnet-cBN"))
    write_yaml(tmp_path, {**settings("resnet-cBN"), "attn_g_loc": [1, 2, 3]})
    with pytest.raises(CheckpointError) as error:
        load(tmp_path)
    assert "keys do not match the generator its YAML describes: missing" in _one_line(
        error, tmp_path / "model=G_ema-best-weights-step=4000.pth"
    )


def test_spectral_norm_that_contradicts_the_yaml_is_one_line(tmp_path: Path) -> None:
    write_run(tmp_path, settings("resnet-cBN"))
    write_yaml(tmp_path, {**settings("resnet-cBN"), "apply_g_sn": False})
    with pytest.raises(CheckpointError) as error:
        load(tmp_path)
    message = _one_line(error, tmp_path / "model=G_ema-best-weights-step=4000.pth")
    assert "its YAML says apply_g_sn: False, but spectrally normed weights in" in message and "linear0" in message


class Payload:
    """Pickled by reference: loading it would import and call code."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (print, ("ran code",))


def test_a_pickle_that_builds_code_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_yaml(tmp_path, settings("resnet-cBN"))
    path = tmp_path / "model=G-best-weights-step=1.pth"
    torch.save({"state_dict": {}, "optimizer": Payload()}, path)
    with pytest.raises(CheckpointError) as error:
        load(tmp_path)
    assert "refused, it would build print, and only an unsafe load" in _one_line(error, path)
    assert "ran code" not in capsys.readouterr().out


def test_a_folder_without_yaml_and_a_discriminator_file_are_one_line(tmp_path: Path) -> None:
    write_run(tmp_path, settings("resnet-cBN"))
    (tmp_path / "run.yaml").unlink()
    with pytest.raises(CheckpointError) as error:
        load(tmp_path)
    assert "expected the run's YAML config beside it, found no .yaml files" in _one_line(
        error, tmp_path / "model=G_ema-best-weights-step=4000.pth"
    )
    discriminator = tmp_path / "model=D-best-weights-step=4000.pth"
    discriminator.write_bytes(b"")
    with pytest.raises(CheckpointError) as error:
        load(discriminator)
    assert "discriminator" in _one_line(error, discriminator)


def test_a_nan_weight_is_one_line(tmp_path: Path) -> None:
    reference = write_run(tmp_path, settings("resnet-cBN"))
    with torch.no_grad():
        reference.conv2d5.weight_orig[0, 0, 0, 0] = float("nan")
    path = save_generator(reference, tmp_path / "model=G_ema-best-weights-step=4000.pth")
    with pytest.raises(CheckpointError) as error:
        load(tmp_path)
    assert "NaN or infinite values in 1 (conv2d5.weight)" in _one_line(error, path)


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ({"backbone": "big_resnet_deep_legacy", "g_cond_mtd": "W/O", "g_depth": 2}, "does not run in StudioGAN either"),
        ({"backbone": "big_resnet", "z_dim": 21, "g_shared_dim": 6}, "z_dim (21) must split into 4 equal chunks"),
        ({"apply_attn": False}, "the generator has no attention layer"),
        ({"attn_g_loc": [4]}, "attn_g_loc must name stages in 1..3"),
        ({"g_cond_mtd": "cAdaIN"}, "g_cond_mtd must be 'cBN' or 'W/O'"),
        ({"backbone": "deep_conv", "img_size": 64}, "img_size must be one of (32,) for deep_conv"),
    ],
)
def test_a_yaml_we_cannot_build_is_one_line(tmp_path: Path, change: dict[str, Any], phrase: str) -> None:
    write_run(tmp_path, settings("resnet-cBN"))
    write_yaml(tmp_path, {**settings("resnet-cBN"), **change})
    with pytest.raises(CheckpointError) as error:
        load(tmp_path)
    message = _one_line(error, tmp_path / "run.yaml")
    assert "not a generator we can build" in message and phrase in message
