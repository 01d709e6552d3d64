"""StudioGAN's published configurations build, on the meta device, with the key names and shapes of its files.

The YAML texts are the DATA and MODEL sections of StudioGAN's src/configs/<dataset>/<name>.yaml,
written out here; everything else in them (losses, optimiser) does not shape the generator.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.families.studiogan import map_state, read_config
from models.studiogan import StudioGANGenerator, attention_layers
from tests.models.studiogan_reference import ReferenceGenerator

PUBLISHED = {
    "ImageNet/SAGAN-256.yaml": """
DATA: {name: "ImageNet", img_size: 128, num_classes: 1000}
MODEL: {g_cond_mtd: "cBN", d_cond_mtd: "PD", apply_g_sn: True, apply_d_sn: True, apply_attn: True,
        attn_g_loc: [4], attn_d_loc: [1]}
""",
    "ImageNet/BigGAN-256.yaml": """
DATA: {name: "ImageNet", img_size: 128, num_classes: 1000}
MODEL: {backbone: "big_resnet", g_cond_mtd: "cBN", d_cond_mtd: "PD", apply_g_sn: True, apply_d_sn: True,
        apply_attn: True, attn_g_loc: [4], attn_d_loc: [1], z_dim: 120, g_shared_dim: 128, g_conv_dim: 96,
        d_conv_dim: 96, apply_g_ema: True, g_ema_decay: 0.9999, g_ema_start: 20000}
""",
    "CIFAR10/BigGAN.yaml": """
DATA: {name: "CIFAR10", img_size: 32, num_classes: 10}
MODEL: {backbone: "big_resnet", g_cond_mtd: "cBN", d_cond_mtd: "PD", apply_g_sn: True, apply_d_sn: True,
        apply_attn: True, attn_g_loc: [2], attn_d_loc: [1], z_dim: 80, g_shared_dim: 128, g_conv_dim: 96,
        d_conv_dim: 96, apply_g_ema: True, g_ema_decay: 0.9999, g_ema_start: 1000}
""",
    "Baby_ImageNet/SAGAN.yaml": """
DATA: {name: "Baby_ImageNet", img_size: 64, num_classes: 100}
MODEL: {g_cond_mtd: "cBN", d_cond_mtd: "PD", apply_g_sn: True, apply_d_sn: True, apply_attn: True,
        attn_g_loc: [3], attn_d_loc: [1]}
""",
    "ImageNet/BigGAN-Deep-256.yaml": """
DATA: {name: "ImageNet", img_size: 128, num_classes: 1000}
MODEL: {backbone: "big_resnet_deep_legacy", g_cond_mtd: "cBN", d_cond_mtd: "PD", apply_g_sn: True,
        apply_d_sn: True, apply_attn: True, attn_g_loc: [4], attn_d_loc: [1], z_dim: 128, g_shared_dim: 128,
        g_conv_dim: 128, d_conv_dim: 128, g_depth: 2, d_depth: 2, apply_g_ema: True, g_ema_decay: 0.9999,
        g_ema_start: 20000}
""",
    "CIFAR10/BigGAN-Deep-StudioGAN.yaml": """
DATA: {name: "CIFAR10", img_size: 32, num_classes: 10}
MODEL: {backbone: "big_resnet_deep_studiogan", g_cond_mtd: "cBN", d_cond_mtd: "PD", apply_g_sn: True,
        apply_d_sn: True, apply_attn: True, attn_g_loc: [2], attn_d_loc: [1], z_dim: 128, g_shared_dim: 128,
        g_conv_dim: 128, d_conv_dim: 128, g_depth: 2, d_depth: 2, apply_g_ema: True, g_ema_decay: 0.9999,
        g_ema_start: 1000}
""",
}

# (attention layer name, channels, query grid), linear0's weight shape, one conditional-BN gain's weight shape
EXPECTED = {
    "ImageNet/SAGAN-256.yaml": (
        ("blocks.4.0", 128, 64),
        (1024 * 16, 128),
        ("blocks.0.0.bn1.gain.weight", (1024, 1000)),
    ),
    "ImageNet/BigGAN-256.yaml": (("blocks.4.0", 192, 64), (1536 * 16, 20), ("blocks.0.0.bn1.gain.weight", (1536, 148))),
    "CIFAR10/BigGAN.yaml": (("blocks.2.0", 384, 16), (384 * 16, 20), ("blocks.0.0.bn1.gain.weight", (384, 148))),
    "Baby_ImageNet/SAGAN.yaml": (
        ("blocks.3.0", 128, 32),
        (1024 * 16, 128),
        ("blocks.0.0.bn1.gain.weight", (1024, 100)),
    ),
    "ImageNet/BigGAN-Deep-256.yaml": (
        ("blocks.8.0", 256, 64),
        (2048 * 16, 256),
        ("blocks.1.0.bn2.gain.weight", (512, 256)),
    ),
    "CIFAR10/BigGAN-Deep-StudioGAN.yaml": (
        ("blocks.4.0", 512, 16),
        (512 * 16, 256),
        ("blocks.3.0.conv2d0.weight", (512, 512, 1, 1)),
    ),
}


def _reference_settings(config) -> dict:
    return {
        "backbone": config.backbone,
        "g_cond_mtd": config.g_cond_mtd,
        "apply_g_sn": config.apply_g_sn,
        "g_act_fn": config.g_act_fn,
        "apply_attn": True,
        "attn_g_loc": list(config.attn_g_loc),
        "img_size": config.img_size,
        "num_classes": config.num_classes,
        "z_dim": config.z_dim,
        "g_shared_dim": config.g_shared_dim,
        "g_conv_dim": config.g_conv_dim,
        "g_depth": config.g_depth,
    }


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_a_published_config_builds_with_its_files_keys_and_shapes(name: str, tmp_path: Path) -> None:
    path = tmp_path / Path(name).name
    path.write_text(PUBLISHED[name], encoding="utf-8")
    config = read_config(path)
    with torch.device("meta"):
        ours = StudioGANGenerator(config)
        reference = ReferenceGenerator(_reference_settings(config))
    file_state = reference.state_dict()
    assert any(key.endswith(".weight_orig") for key in file_state) and any(".sigma" in key for key in file_state)
    mapped = map_state(path, file_state, ours)  # raises on any key or shape that does not match
    assert set(mapped) == set(ours.state_dict())

    (attention, channels, grid), linear0, (key, shape) = EXPECTED[name]
    layers = attention_layers(config)
    assert [(layer.name, layer.channels, layer.query_grid, layer.key_grid) for layer in layers] == [
        (attention, channels, grid, grid // 2)
    ]
    assert tuple(mapped["linear0.weight"].shape) == linear0 and tuple(mapped[key].shape) == shape
    assert tuple(mapped[f"{attention}.theta.weight"].shape) == (channels // 8, channels, 1, 1)
