from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.sagan import (
    Discriminator,
    Generator,
    SAGANConfig,
    SelfAttention,
    generator_attention_layers,
    sample_latents,
)


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


@pytest.mark.parametrize("key_pool", [1, 2])
def test_fused_training_attention_equals_the_explicit_softmax(key_pool: int) -> None:
    torch.manual_seed(0)
    layer = SelfAttention(32, key_pool).train()
    with torch.no_grad():
        layer.gamma.fill_(0.8)
        layer.key_conv.weight.mul_(4.0)
    features = torch.randn(3, 32, 8, 8, requires_grad=True)
    explicit = layer(features)
    (explicit_grad,) = torch.autograd.grad(explicit.square().sum(), features)
    layer.fused_in_training = True
    fused = layer(features)
    (fused_grad,) = torch.autograd.grad(fused.square().sum(), features)
    assert not torch.equal(explicit, features)
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fused_grad, explicit_grad, atol=1e-4, rtol=1e-4)


def test_a_capture_never_runs_the_fused_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from models import sagan
    from models.capture import AttentionCapture

    calls = []
    monkeypatch.setattr(sagan, "fused_attention", lambda *tensors: calls.append(1) or _explicit(*tensors))
    generator = Generator(SAGANConfig(z_dim=8, g_conv_dim=16, d_conv_dim=16, attn_key_pool=2)).train()
    for layer in (generator.attn1, generator.attn2):
        layer.fused_in_training = True
    generator(torch.randn(2, 8))
    assert len(calls) == 2, "outside a capture, training mode takes the fused path"
    with AttentionCapture(generator, ["attn1", "attn2"]) as capture:
        generator(torch.randn(2, 8))
    assert len(calls) == 2, "inside a capture, the explicit softmax runs"
    assert capture.maps["attn2"].shape == (2, 32 * 32, 16 * 16)
    assert generator.attn1.fused_in_training and generator.attn2.fused_in_training


def _explicit(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    return torch.bmm(torch.softmax(torch.bmm(query, key), -1), value.transpose(1, 2))


def test_residual_generator_keeps_the_attention_placement() -> None:
    config = SAGANConfig(z_dim=8, g_conv_dim=16, d_conv_dim=16, attn_key_pool=2, g_blocks="residual")
    generator = Generator(config).eval()
    assert generator(torch.randn(2, 8)).shape == (2, 3, 64, 64)
    assert [(layer.name, layer.query_grid, layer.key_grid) for layer in generator_attention_layers(config)] == [
        ("attn1", 16, 8),
        ("attn2", 32, 16),
    ]
    with pytest.raises(ValueError, match="g_blocks must be one of"):
        SAGANConfig(g_blocks="pixelshuffle")
