from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.sagan import Discriminator, Generator, SAGANConfig, generator_attention_layers, sample_latents


def test_generator_and_discriminator_shapes(tiny_config: SAGANConfig) -> None:
    generator, discriminator = Generator(tiny_config).eval(), Discriminator(tiny_config).eval()
    with torch.no_grad():
        images = generator(torch.randn(2, tiny_config.z_dim))
        scores = discriminator(images)
    assert images.shape == (2, 3, 64, 64)
    assert float(images.abs().max()) <= 1.0
    assert scores.shape == (2,)


def test_attention_layers_follow_the_reference_layout() -> None:
    layers = generator_attention_layers(SAGANConfig(g_conv_dim=64))
    assert [(layer.name, layer.channels, layer.query_grid, layer.key_grid) for layer in layers] == [
        ("attn1", 128, 16, 16),
        ("attn2", 64, 32, 32),
    ]
    pooled = generator_attention_layers(SAGANConfig(g_conv_dim=64, attn_key_pool=2))
    assert [(layer.query_grid, layer.key_grid) for layer in pooled] == [(16, 8), (32, 16)]


def test_gamma_starts_at_zero(tiny_config: SAGANConfig) -> None:
    generator = Generator(tiny_config)
    assert generator.attn1.gamma.item() == 0.0 and generator.attn2.gamma.item() == 0.0


def test_attention_never_calls_a_fused_kernel(monkeypatch: pytest.MonkeyPatch, tiny_config: SAGANConfig) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("fused attention never materialises the map")

    monkeypatch.setattr(F, "scaled_dot_product_attention", refuse)
    with torch.no_grad():
        Generator(tiny_config).eval()(torch.randn(1, tiny_config.z_dim))


def test_spectral_norm_is_torch_parametrization(tiny_config: SAGANConfig) -> None:
    generator = Generator(tiny_config)
    assert torch.nn.utils.parametrize.is_parametrized(generator.l1[0], "weight")
    assert "l1.0.parametrizations.weight.original" in generator.state_dict()


def test_seed_gives_the_same_latent_every_time() -> None:
    first = sample_latents([0, 7, 2**32 - 1], 16)
    again = sample_latents([0, 7, 2**32 - 1], 16)
    assert torch.equal(first, again)
    assert not torch.equal(first[0], first[1])


@pytest.mark.parametrize("bad", [{"image_size": 128}, {"g_conv_dim": 12}, {"attn_key_pool": 3}, {"z_dim": 0}])
def test_config_rejects_unsupported_architectures(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        SAGANConfig(**bad)
