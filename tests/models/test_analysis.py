from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from app.cli import main
from models.analysis import AttentionRemoved, attention_effect, effect_map, sample_without_attention
from models.biggan import BigGANConfig, BigGANDeep, generate
from models.capture import AttentionCapture, count_forward_hooks
from models.checkpoint import LoadedCheckpoint
from models.families.sagan import sagan_model
from models.metrics import attention_statistics
from models.sagan import Generator, SAGANConfig, sample_latents
from tests.models.biggan_reference import ATTENTION, SMALL

SEEDS = [3, 11]


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def assert_unchanged(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = model.state_dict()
    assert after.keys() == before.keys()
    for name, tensor in before.items():
        assert torch.equal(after[name], tensor), f"{name} changed"
    assert count_forward_hooks(model) == 0


@pytest.fixture(scope="module")
def biggan() -> BigGANDeep:
    torch.manual_seed(0)
    model = BigGANDeep(BigGANConfig.from_dict(SMALL))
    draw = torch.Generator().manual_seed(1)
    with torch.no_grad():
        model.get_submodule(ATTENTION).gamma.fill_(0.8)
        for name, buffer in model.named_buffers():
            if name.endswith("running_vars"):
                buffer.copy_(torch.rand(buffer.shape, generator=draw) + 0.5)
            elif name.endswith("running_means"):
                buffer.copy_(torch.randn(buffer.shape, generator=draw) * 0.5)
    return model.eval()


def biggan_forward(model: BigGANDeep) -> torch.Tensor:
    return generate(model, SEEDS, [0, 7], 0.5)


@pytest.mark.parametrize(("layer", "inference"), [("attn1", False), ("attn2", True)])
def test_sagan_without_attention_equals_a_copy_with_gamma_zeroed(
    make_generator: Callable[..., Generator], layer: str, inference: bool
) -> None:
    """Also under inference mode, as the server generates."""
    generator = make_generator()
    z = sample_latents(SEEDS, generator.config.z_dim)
    before = snapshot(generator)

    with torch.inference_mode(inference):
        ablation = sample_without_attention(generator, layer, lambda: generator(z))

    expected = copy.deepcopy(generator)
    with torch.no_grad():
        getattr(expected, layer).gamma.zero_()
        expected_images, real_images = expected(z), generator(z)
    torch.testing.assert_close(ablation.without, expected_images, rtol=0, atol=1e-6)
    torch.testing.assert_close(ablation.images, real_images, rtol=0, atol=0)
    assert ablation.difference.shape == (2, 64, 64)
    torch.testing.assert_close(ablation.difference, (real_images - expected_images).abs().mean(1), rtol=0, atol=1e-6)
    assert ablation.difference.amax() > 1e-2, "γ ≠ 0 should change the tiny model's samples"
    assert float(getattr(generator, layer).gamma.detach()) != 0.0
    assert_unchanged(generator, before)


def test_biggan_without_attention_equals_a_copy_with_gamma_zeroed(biggan: BigGANDeep) -> None:
    before = snapshot(biggan)

    ablation = sample_without_attention(biggan, ATTENTION, lambda: biggan_forward(biggan))

    expected = copy.deepcopy(biggan)
    with torch.no_grad():
        expected.get_submodule(ATTENTION).gamma.zero_()
    torch.testing.assert_close(ablation.without, biggan_forward(expected), rtol=0, atol=1e-6)
    assert ablation.difference.shape == (2, 32, 32) and ablation.difference.amax() > 1e-2
    assert_unchanged(biggan, before)


def test_without_attention_keeps_the_captured_map_and_removes_every_hook(
    make_generator: Callable[..., Generator],
) -> None:
    generator = make_generator()
    z = sample_latents([5], generator.config.z_dim)
    with torch.no_grad(), AttentionCapture(generator, ["attn1"]) as plain:
        generator(z)
    with torch.no_grad(), AttentionCapture(generator, ["attn1"]) as capture, AttentionRemoved(generator, ["attn1"]):
        generator(z)
    assert capture.maps["attn1"].shape == plain.maps["attn1"].shape == (1, 256, 256)
    torch.testing.assert_close(capture.maps["attn1"], plain.maps["attn1"], rtol=0, atol=0)
    assert count_forward_hooks(generator) == 0


def test_removal_applies_only_to_the_entering_thread(make_generator: Callable[..., Generator]) -> None:
    generator = make_generator()
    z = sample_latents([5], generator.config.z_dim)
    with torch.no_grad():
        real = generator(z)
        with AttentionRemoved(generator, ["attn2"]):
            elsewhere: list[torch.Tensor] = []
            thread = threading.Thread(target=lambda: elsewhere.append(generator(z)))
            thread.start()
            thread.join()
            here = generator(z)
    torch.testing.assert_close(elsewhere[0], real, rtol=0, atol=0)
    assert (here - real).abs().amax() > 1e-2


def test_an_unknown_or_ambiguous_layer_is_refused(make_generator: Callable[..., Generator]) -> None:
    generator = make_generator()
    with pytest.raises(KeyError, match="attn9"):
        sample_without_attention(generator, "attn9", lambda: generator(torch.zeros(1, 16)))
    with pytest.raises(KeyError, match="exactly one"):
        sample_without_attention(generator, "attn*", lambda: generator(torch.zeros(1, 16)))


def sagan_effect_by_hand(layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """‖γ·o‖ / ‖x‖ per cell from the layer's own convolutions, o = V Aᵀ with unpooled keys."""
    query = layer.query_conv(x).flatten(2)  # (B, C/8, N)
    key = layer.key_conv(x).flatten(2)  # (B, C/8, N)
    value = layer.value_conv(x).flatten(2)  # (B, C, N)
    attention = torch.softmax(torch.einsum("bcn,bcm->bnm", query, key), dim=-1)  # (B, N, N)
    out = torch.einsum("bcm,bnm->bcn", value, attention).reshape(x.shape)  # (B, C, H, W)
    added = layer.gamma * out
    return added.pow(2).sum(1).sqrt() / x.pow(2).sum(1).sqrt()  # (B, H, W)


@torch.no_grad()
def test_sagan_effect_equals_a_hand_computation(
    make_generator: Callable[..., Generator], hand_attention: tuple[Callable[..., dict[str, torch.Tensor]], ...]
) -> None:
    features_entering, _ = hand_attention
    generator = make_generator()
    z = sample_latents(SEEDS, generator.config.z_dim)
    features = features_entering(generator, z)

    effects = attention_effect(generator, ["attn1", "attn2"], lambda: generator(z))

    assert [(e.layer, e.query_grid, tuple(e.maps.shape)) for e in effects] == [
        ("attn1", (16, 16), (2, 16, 16)),
        ("attn2", (32, 32), (2, 32, 32)),
    ]
    for effect in effects:
        expected = sagan_effect_by_hand(getattr(generator, effect.layer), features[effect.layer])
        torch.testing.assert_close(effect.maps, expected, rtol=1e-4, atol=1e-6)
        assert effect.mean == pytest.approx(float(expected.mean()), rel=1e-4)
        assert effect.maps.std() > 0, "a constant map would not show per-cell effects"
    assert count_forward_hooks(generator) == 0


@torch.no_grad()
def test_biggan_effect_equals_a_hand_computation(biggan: BigGANDeep) -> None:
    layer = biggan.get_submodule(ATTENTION)
    entering: list[torch.Tensor] = []
    handle = layer.register_forward_pre_hook(lambda module, args: entering.append(args[0]))
    try:
        biggan_forward(biggan)
    finally:
        handle.remove()
    (x,) = entering  # (B, C, H, W)
    theta = layer.snconv1x1_theta(x).flatten(2)  # (B, C/8, N)
    phi = F.max_pool2d(layer.snconv1x1_phi(x), 2).flatten(2)  # (B, C/8, M)
    g = F.max_pool2d(layer.snconv1x1_g(x), 2).flatten(2)  # (B, C/2, M)
    attention = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (B, N, M)
    o = layer.snconv1x1_o_conv((g @ attention.transpose(1, 2)).view(x.shape[0], -1, *x.shape[2:]))
    expected = (0.8 * o).norm(dim=1) / x.norm(dim=1)  # (B, H, W)

    (effect,) = attention_effect(biggan, ["generator.layers.*"], lambda: biggan_forward(biggan))

    assert effect.layer == ATTENTION and effect.query_grid == (16, 16)
    torch.testing.assert_close(effect.maps, expected, rtol=1e-4, atol=1e-6)
    assert expected.mean() > 1e-3


@torch.no_grad()
def test_effect_is_zero_when_gamma_is_zero(make_generator: Callable[..., Generator]) -> None:
    generator = make_generator(SAGANConfig(z_dim=16, g_conv_dim=16, d_conv_dim=16, attn_key_pool=2))
    generator.attn2.gamma.zero_()
    z = sample_latents([1], generator.config.z_dim)
    first, second = attention_effect(generator, ["attn*"], lambda: generator(z))
    assert first.mean > 0 and second.maps.shape == (1, 32, 32)
    assert torch.count_nonzero(second.maps) == 0 and second.mean == 0.0


def test_effect_map_is_the_ratio_of_channel_norms() -> None:
    features = torch.tensor([[[[3.0, 0.0]], [[4.0, 1.0]]]])  # (1, 2, 1, 2): norms 5 and 1
    added = torch.tensor([[[[0.0, 2.0]], [[-1.0, 0.0]]]])  # norms 1 and 2
    torch.testing.assert_close(effect_map(features, added), torch.tensor([[[0.2, 2.0]]]))


def test_inspect_statistics_carry_the_mean_effect(make_generator: Callable[..., Generator]) -> None:
    generator = make_generator()
    seeds = [0, 1, 2]
    model = sagan_model(LoadedCheckpoint(Path("tiny.pt"), generator.config, generator, None))
    stats = attention_statistics(model, seeds=seeds, batch_size=2)
    z = sample_latents(seeds, generator.config.z_dim)
    expected = {e.layer: e.mean for e in attention_effect(generator, ["attn1", "attn2"], lambda: generator(z))}
    assert {s.name: s.attention_effect for s in stats} == pytest.approx(expected, rel=1e-5)
    assert all(value > 0 for value in expected.values())


def test_inspect_prints_the_effect_column(checkpoint_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(checkpoint_path), "--seeds", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("| layer"))
    assert header.rstrip(" |").endswith("‖γ·o‖ / ‖x‖")
    rows = [line for line in lines if line.startswith("| attn")]
    assert all(float(row.split("|")[-2]) > 0 for row in rows) and len(rows) == 2
