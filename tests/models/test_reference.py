"""A generator in the reference implementation's layout, written here from its parameter names and
semantics, must give the same image and attention after conversion through `load_checkpoint`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from models.capture import AttentionCapture
from models.checkpoint import CheckpointError, load_checkpoint
from models.sagan import sample_latents


class ReferenceSpectralNorm(nn.Module):
    """Stores `module.weight_bar`, `module.weight_u`, `module.weight_v`; one power iteration per forward."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        weight = module.weight
        height = weight.shape[0]
        width = weight.numel() // height
        del module._parameters["weight"]
        module.register_parameter("weight_u", nn.Parameter(nn.functional.normalize(torch.randn(height), dim=0), False))
        module.register_parameter("weight_v", nn.Parameter(nn.functional.normalize(torch.randn(width), dim=0), False))
        module.register_parameter("weight_bar", nn.Parameter(weight.data))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.module.weight_bar
        matrix = w.view(w.shape[0], -1)
        v = matrix.t() @ self.module.weight_u
        v = v / (v.norm() + 1e-12)
        u = matrix @ v
        u = u / (u.norm() + 1e-12)
        self.module.weight_u.data, self.module.weight_v.data = u, v
        self.module.weight = w / (u @ matrix @ v)
        return self.module(x)


class ReferenceAttention(nn.Module):
    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.query_conv = nn.Conv2d(in_dim, in_dim // 8, 1)
        self.key_conv = nn.Conv2d(in_dim, in_dim // 8, 1)
        self.value_conv = nn.Conv2d(in_dim, in_dim, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        query = self.query_conv(x).view(b, -1, h * w).permute(0, 2, 1)
        key = self.key_conv(x).view(b, -1, h * w)
        attention = torch.softmax(torch.bmm(query, key), dim=-1)
        value = self.value_conv(x).view(b, -1, h * w)
        out = torch.bmm(value, attention.permute(0, 2, 1)).view(b, c, h, w)
        return self.gamma * out + x, attention


def up(in_dim: int, out_dim: int, *args: int) -> nn.Sequential:
    return nn.Sequential(
        ReferenceSpectralNorm(nn.ConvTranspose2d(in_dim, out_dim, 4, *args)), nn.BatchNorm2d(out_dim), nn.ReLU()
    )


class ReferenceGenerator(nn.Module):
    def __init__(self, z_dim: int, conv_dim: int) -> None:
        super().__init__()
        self.l1 = up(z_dim, conv_dim * 8)
        self.l2 = up(conv_dim * 8, conv_dim * 4, 2, 1)
        self.l3 = up(conv_dim * 4, conv_dim * 2, 2, 1)
        self.l4 = up(conv_dim * 2, conv_dim, 2, 1)
        self.last = nn.Sequential(nn.ConvTranspose2d(conv_dim, 3, 4, 2, 1), nn.Tanh())
        self.attn1 = ReferenceAttention(conv_dim * 2)
        self.attn2 = ReferenceAttention(conv_dim)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.l3(self.l2(self.l1(z.view(z.size(0), z.size(1), 1, 1))))
        out, p1 = self.attn1(out)
        out, p2 = self.attn2(self.l4(out))
        return self.last(out), p1, p2


def test_reference_checkpoint_reproduces_images_and_attention(
    tmp_path: Path, randomise_weights: Callable[[torch.nn.Module, int], None]
) -> None:
    torch.manual_seed(5)
    reference = ReferenceGenerator(z_dim=24, conv_dim=16)
    randomise_weights(reference, seed=5)
    reference.eval()
    path = tmp_path / "1000_G.pth"
    torch.save(reference.state_dict(), path)
    assert "l1.0.module.weight_bar" in torch.load(path, weights_only=True)

    loaded = load_checkpoint(path)
    assert loaded.config.z_dim == 24 and loaded.config.g_conv_dim == 16
    assert loaded.source_format == "heykeetae/Self-Attention-GAN"

    z = sample_latents([0, 1, 2], 24)
    with torch.no_grad():
        expected_images, expected_p1, expected_p2 = reference(z)
        with AttentionCapture(loaded.generator, ["attn1", "attn2"]) as capture:
            images = loaded.generator(z)
    torch.testing.assert_close(images, expected_images, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(capture.maps["attn1"], expected_p1, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(capture.maps["attn2"], expected_p2, rtol=1e-4, atol=1e-6)
    assert float(expected_images.std()) > 0.01, "the comparison needs a non-trivial image"


def test_a_data_parallel_generator_file_loads_like_the_plain_one(
    tmp_path: Path, randomise_weights: Callable[[torch.nn.Module, int], None]
) -> None:
    torch.manual_seed(6)
    reference = ReferenceGenerator(z_dim=24, conv_dim=16)
    randomise_weights(reference, seed=6)
    plain, parallel = tmp_path / "1000_G.pth", tmp_path / "parallel" / "1000_G.pth"
    parallel.parent.mkdir()
    torch.save(reference.state_dict(), plain)
    torch.save(nn.DataParallel(reference).state_dict(), parallel)
    assert all(key.startswith("module.") for key in torch.load(parallel, weights_only=True))

    z = sample_latents([3], 24)
    with torch.no_grad():
        torch.testing.assert_close(load_checkpoint(parallel).generator(z), load_checkpoint(plain).generator(z))


@pytest.mark.parametrize("parallel", [False, True])
def test_a_discriminator_file_is_named_as_one(tmp_path: Path, parallel: bool) -> None:
    discriminator = nn.Sequential()
    discriminator.add_module("l1", nn.Sequential(ReferenceSpectralNorm(nn.Conv2d(3, 16, 4, 2, 1))))
    discriminator.add_module("last", nn.Sequential(nn.Conv2d(16, 1, 4)))
    path = tmp_path / "1000_D.pth"
    torch.save((nn.DataParallel(discriminator) if parallel else discriminator).state_dict(), path)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert (
        str(error.value)
        == f"{path}: this is a discriminator checkpoint ({{step}}_D.pth); pass the generator's {{step}}_G.pth"
    )
