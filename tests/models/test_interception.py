from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.capture import AttentionCapture, count_forward_hooks
from models.interception import InterceptedCapture, Kind, active_captures
from models.sagan import Generator, sample_latents
from tests.models import user_models


def _nothing_left(model: nn.Module) -> None:
    assert active_captures() == 0
    assert count_forward_hooks(model) == 0
    assert torch._C._len_torch_function_stack() == 0


@torch.no_grad()
def test_inline_softmax_with_pooled_keys_equals_the_softmax_of_its_own_theta_phi() -> None:
    generator = user_models.InlineGenerator().eval()
    z = torch.randn(3, 8)
    with InterceptedCapture(generator) as capture:
        generator(z)
    captured = capture.layers
    assert list(captured) == ["attention"]
    layer = captured["attention"]
    theta, phi = generator.attention.theta_phi(generator.before_attention(z))
    expected = torch.softmax(torch.bmm(theta.transpose(1, 2), phi), -1)  # (B, 256, 64)
    assert layer.kind is Kind.inline_softmax
    assert layer.maps.shape == (3, 1, 256, 64)
    torch.testing.assert_close(layer.maps[:, 0], expected, rtol=1e-5, atol=1e-7)
    _nothing_left(generator)


def _explicit_heads(layer: user_models.HeadsAttention, tokens: torch.Tensor, scale: float) -> torch.Tensor:
    query, key, _ = layer.qkv_heads(tokens)
    logits = query @ key.transpose(-2, -1) * scale  # (B, H, T, T)
    if layer.mask is not None:
        logits = (
            logits.masked_fill(~layer.mask, float("-inf")) if layer.mask.dtype == torch.bool else logits + layer.mask
        )
    if layer.is_causal:
        logits = logits.masked_fill(torch.ones(64, 64, dtype=torch.bool).triu(1), float("-inf"))
    return logits.softmax(-1)


@pytest.mark.parametrize("variant", ["plain", "bool mask", "float mask", "causal", "scale"])
@torch.no_grad()
def test_each_sdpa_head_equals_the_explicit_softmax_and_the_output_is_unchanged(variant: str) -> None:
    generator = user_models.TokenGenerator(heads=4).eval()
    layer = generator.attention
    torch.manual_seed(1)
    if variant == "bool mask":
        layer.mask = torch.rand(64, 64) > 0.3
        layer.mask.fill_diagonal_(True)
    elif variant == "float mask":
        layer.mask = torch.randn(2, 4, 64, 64)
    elif variant == "causal":
        layer.is_causal = True
    elif variant == "scale":
        layer.scale = 0.9
    z = torch.randn(2, 8)
    plain = generator(z)
    with InterceptedCapture(generator) as capture:
        captured_output = generator(z)
    torch.testing.assert_close(captured_output, plain, rtol=0, atol=0)
    maps = capture.layers["attention"]
    assert maps.kind is Kind.fused_attention and maps.heads == 4
    scale = layer.scale if layer.scale is not None else 1 / (16 // 4) ** 0.5
    expected = _explicit_heads(layer, generator.tokens(z), scale)
    torch.testing.assert_close(maps.maps, expected, rtol=1e-5, atol=1e-6)
    if variant == "bool mask":
        assert (maps.maps[:, :, ~layer.mask] == 0).all()
    _nothing_left(generator)


@torch.no_grad()
def test_multihead_attention_module_maps_equal_its_own_per_head_weights() -> None:
    generator = user_models.TokenGenerator(heads=2, builtin=True).eval()
    z = torch.randn(3, 8)
    tokens = generator.tokens(z)
    _, weights = generator.attention(tokens, tokens, tokens, average_attn_weights=False)  # (B, H, T, T)
    with InterceptedCapture(generator) as capture:
        generator(z)
    maps = capture.layers["attention"]
    assert maps.heads == 2
    torch.testing.assert_close(maps.maps, weights, rtol=1e-5, atol=1e-6)


@torch.no_grad()
def test_softmax_modules_are_named_by_their_layer_and_equal_the_hook_capture(generator: Generator) -> None:
    z = sample_latents([5, 6], generator.config.z_dim)
    with AttentionCapture(generator, ["attn1", "attn2"]) as hooks:
        generator(z)
    with InterceptedCapture(generator) as capture:
        generator(z)
    captured = capture.layers
    assert list(captured) == ["attn1", "attn2"]
    for name in ("attn1", "attn2"):
        assert captured[name].kind is Kind.softmax_module
        torch.testing.assert_close(captured[name].maps[:, 0], hooks.maps[name], rtol=0, atol=0)


class TwiceAttending(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = F.softmax(x @ x.transpose(1, 2), dim=-1)  # (B, N, N)
        second = (x @ x.transpose(1, 2) * 2).softmax(-1)  # (B, N, N)
        return first @ second @ x


@torch.no_grad()
def test_several_calls_in_one_module_are_numbered_and_passes_concatenate() -> None:
    model = nn.Sequential(nn.Linear(4, 4), TwiceAttending())
    x = torch.randn(2, 9, 4)
    with InterceptedCapture(model) as capture:
        model(x)
        model(x[:1])
    captured = capture.layers
    assert list(captured) == ["1", "1#2"]
    hidden = model[0](x)
    torch.testing.assert_close(captured["1"].maps[:2, 0], F.softmax(hidden @ hidden.transpose(1, 2), -1))
    torch.testing.assert_close(captured["1#2"].maps[:2, 0], (hidden @ hidden.transpose(1, 2) * 2).softmax(-1))
    assert captured["1"].maps.shape == (3, 1, 9, 9)


@torch.no_grad()
def test_two_threads_capturing_at_once_see_only_their_own_maps() -> None:
    generator = user_models.TokenGenerator(heads=4).eval()
    latents = {seed: torch.randn(1, 8, generator=torch.Generator().manual_seed(seed)) for seed in (1, 2)}
    expected = {}
    for seed, z in latents.items():
        with InterceptedCapture(generator) as capture:
            generator(z)
        expected[seed] = capture.layers["attention"].maps
    barrier = threading.Barrier(2)
    results: dict[int, torch.Tensor] = {}
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            with InterceptedCapture(generator) as capture:
                barrier.wait()
                for _ in range(20):
                    generator(latents[seed])
            results[seed] = capture.layers["attention"].maps
        except BaseException as error:  # noqa: BLE001  surfaced below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in latents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for seed, maps in results.items():
        assert maps.shape == (20, 4, 64, 64)
        torch.testing.assert_close(maps, expected[seed].expand(20, -1, -1, -1), rtol=0, atol=0)
    _nothing_left(generator)


class Failing(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        F.softmax(x @ x.transpose(1, 2), -1)
        raise RuntimeError("boom inside generate")


def test_nothing_remains_after_an_exception_inside_the_forward_pass() -> None:
    model = nn.Sequential(nn.Identity(), Failing())
    with pytest.raises(RuntimeError, match="boom inside generate"), InterceptedCapture(model):
        assert active_captures() == 1 and count_forward_hooks(model) > 0
        model(torch.randn(1, 4, 4))
    _nothing_left(model)
    torch.softmax(torch.randn(1, 4, 4), -1)  # with no capture open, nothing records it


def test_calls_outside_the_model_and_other_softmaxes_are_not_recorded() -> None:
    model = nn.Sequential(nn.Linear(4, 4))
    with InterceptedCapture(model) as capture:
        torch.softmax(torch.randn(1, 4, 4), -1)  # outside any module of the model
        model(torch.randn(1, 4, 4)).softmax(0)
        F.softmax(model(torch.randn(2, 4)), -1)  # 2-D
    assert capture.layers == {}


def test_notebook_sample_reads_each_head_and_the_mean() -> None:
    from models.notebook import open_model

    model = open_model(generator="tests.models.user_models:tokens", generator_args={"heads": 4})
    sample = model.sample(3)
    layer = model.layers["attention"]
    assert (layer.heads, layer.kind) == (4, "fused attention")
    heads = np.stack([sample.map("attention", head=h) for h in range(4)])  # (4, 64, 64)
    np.testing.assert_allclose(sample.map("attention"), heads.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(sample.row(3, 4, head=1).values.ravel(), heads[1, 4 * 8 + 3])
    assert not np.allclose(heads[0], heads[1])
    with pytest.raises(ValueError, match="attention has 4 head"):
        sample.map("attention", head=4)


class GroupedQueries(nn.Module):
    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(query, key, value, enable_gqa=True)


@torch.no_grad()
def test_grouped_query_attention_repeats_each_key_head_for_its_query_heads() -> None:
    model = nn.Sequential()
    model.add_module("attend", GroupedQueries())
    query, key, value = torch.randn(2, 4, 9, 8), torch.randn(2, 2, 9, 8), torch.randn(2, 2, 9, 8)
    with InterceptedCapture(model) as capture:
        model[0](query, key, value)
    maps = capture.layers["attend"].maps  # (2, 4, 9, 9)
    for head in range(4):
        expected = (query[:, head] @ key[:, head // 2].transpose(-2, -1) / 8**0.5).softmax(-1)
        torch.testing.assert_close(maps[:, head], expected, rtol=1e-5, atol=1e-6)


def test_a_family_model_is_captured_by_its_softmax_hooks_with_the_maps_interception_sees() -> None:
    from models.registry import SHIPPED_MODEL, load

    model = load(SHIPPED_MODEL)
    assert model._softmax_modules_only()
    class_index = 3 if model.inputs.conditional else None
    image, heads = model.capture_heads(12, class_index)
    with torch.inference_mode(), InterceptedCapture(model.module) as capture:
        model.generate([12], None if class_index is None else [class_index], None)
    assert set(heads) == {"attn1", "attn2"}
    for name, maps in heads.items():
        assert maps.shape[0] == 1
        torch.testing.assert_close(torch.from_numpy(maps.copy()), capture.layers[name].maps[0], rtol=0, atol=0)
