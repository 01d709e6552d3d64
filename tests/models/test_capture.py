from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import torch

from models.analysis import AttentionRemoved, EffectCapture
from models.capture import AttentionCapture, LayerHooks, attention_layer_names, count_forward_hooks
from models.sagan import Generator, SAGANConfig, sample_latents

HandAttention = tuple[Callable[..., dict[str, torch.Tensor]], Callable[..., torch.Tensor]]


@torch.no_grad()
def test_capture_equals_attention_computed_from_query_and_key(
    generator: Generator, hand_attention: HandAttention
) -> None:
    features_entering, attention_by_hand = hand_attention
    z = sample_latents([3, 4], generator.config.z_dim)
    with AttentionCapture(generator, ["attn1", "attn2"]) as capture:
        generator(z)
    inputs = features_entering(generator, z)
    for name, grid in (("attn1", 16), ("attn2", 32)):
        expected = attention_by_hand(getattr(generator, name), inputs[name])
        captured = capture.maps[name]
        assert captured.shape == (2, grid * grid, grid * grid)
        torch.testing.assert_close(captured, expected, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(captured.sum(-1), torch.ones(2, grid * grid), rtol=0, atol=1e-5)


def test_hooks_are_removed_after_use_and_after_errors(generator: Generator) -> None:
    assert count_forward_hooks(generator) == 0
    with AttentionCapture(generator, ["attn*"]):
        assert count_forward_hooks(generator) == 2
    assert count_forward_hooks(generator) == 0
    with pytest.raises(RuntimeError, match="boom"), AttentionCapture(generator, ["attn2"]):
        raise RuntimeError("boom")
    assert count_forward_hooks(generator) == 0


def test_layers_are_picked_by_name_or_pattern(generator: Generator) -> None:
    assert attention_layer_names(generator) == ["attn1", "attn2"]
    assert AttentionCapture(generator, ["attn2"]).layers == ["attn2"]
    assert AttentionCapture(generator, ["attn*"]).layers == ["attn1", "attn2"]
    with pytest.raises(KeyError, match="no attention layer matches 'l4'"):
        AttentionCapture(generator, ["l4"])


def test_capture_without_a_forward_pass_says_so(generator: Generator) -> None:
    with AttentionCapture(generator, ["attn2"]) as capture:
        pass
    with pytest.raises(RuntimeError, match="no forward pass reached"):
        _ = capture.maps


@torch.no_grad()
def test_concurrent_threads_each_see_only_their_own_maps(generator: Generator) -> None:
    seeds = list(range(8))
    expected = {}
    for seed in seeds:
        with AttentionCapture(generator, ["attn2"]) as capture:
            generator(sample_latents([seed], generator.config.z_dim))
        expected[seed] = capture.maps["attn2"]

    barrier = threading.Barrier(len(seeds))
    results: dict[int, torch.Tensor] = {}
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            with AttentionCapture(generator, ["attn2"]) as capture:
                barrier.wait()
                for _ in range(3):
                    generator(sample_latents([seed], generator.config.z_dim))
            results[seed] = capture.maps["attn2"]
        except BaseException as error:  # noqa: BLE001  surfaced below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in seeds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for seed in seeds:
        assert results[seed].shape[0] == 3, "a capture recorded another thread's forward pass"
        for copy in results[seed]:
            torch.testing.assert_close(copy, expected[seed][0])
    assert count_forward_hooks(generator) == 0


@torch.no_grad()
def test_pooled_keys_give_maps_on_the_coarser_key_grid(
    make_generator: Callable[..., Generator], hand_attention: HandAttention
) -> None:
    features_entering, _ = hand_attention

    generator = make_generator(SAGANConfig(z_dim=16, g_conv_dim=16, d_conv_dim=16, attn_key_pool=2))
    z = sample_latents([5], generator.config.z_dim)
    with AttentionCapture(generator, ["attn2"]) as capture:
        generator(z)
    features = features_entering(generator, z)["attn2"]
    layer = generator.attn2
    query = layer.query_conv(features).flatten(2)  # (1, C/8, 1024)
    key = torch.nn.functional.max_pool2d(layer.key_conv(features), 2).flatten(2)  # (1, C/8, 256)
    expected = torch.softmax(torch.einsum("bcn,bcm->bnm", query, key), dim=-1)
    assert capture.maps["attn2"].shape == (1, 1024, 256)
    torch.testing.assert_close(capture.maps["attn2"], expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("hooks", [AttentionCapture, AttentionRemoved, EffectCapture])
def test_hook_life_cycle_of_every_layer_hook(generator: Generator, hooks: type[LayerHooks]) -> None:
    """Registered on entry, one per layer; refused while active; removed on exit, on an error in the forward
    pass and on a failed registration; and the same object enters again afterwards."""
    z = sample_latents([1], generator.config.z_dim)
    active = hooks(generator, ["attn1", "attn2"])
    for attempt in range(2):
        with active:
            assert count_forward_hooks(generator) == 2
            with pytest.raises(RuntimeError, match="already active"), active:
                pass
            assert count_forward_hooks(generator) == 2, "the refused entry leaves the active hooks alone"
            generator(z)
        assert count_forward_hooks(generator) == 0, f"left hooks after exit {attempt + 1}"
    failing = generator.attn2.register_forward_pre_hook(_fail_mid_pass)
    try:
        with pytest.raises(ValueError, match="mid-pass"), active:
            generator(z)
    finally:
        failing.remove()
    assert count_forward_hooks(generator) == 0

    class FailsOnSecondLayer(hooks):  # type: ignore[misc, valid-type]
        def _register(self, name: str, layer: torch.nn.Module) -> None:
            if name == "attn2":
                raise OSError("cannot hook attn2")
            super()._register(name, layer)

    with pytest.raises(OSError, match="cannot hook"), FailsOnSecondLayer(generator, ["attn1", "attn2"]):
        pass
    assert count_forward_hooks(generator) == 0


def _fail_mid_pass(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
    raise ValueError("failed mid-pass")
