from __future__ import annotations

import threading

import pytest
import torch

from models.interrupt import Interrupted, StopWhen
from models.sagan import Generator, sample_latents


def _pre_hooks(model: torch.nn.Module) -> int:
    return sum(len(module._forward_pre_hooks) for module in model.modules())


@torch.no_grad()
def test_a_pass_stops_at_the_first_module_after_stop_turns_true_and_no_hook_remains(generator: Generator) -> None:
    z = sample_latents([1], generator.config.z_dim)
    reached: list[str] = []
    handles = [
        module.register_forward_hook(lambda *_, name=name: reached.append(name))
        for name, module in generator.named_modules()
        if name in ("l2", "attn1", "attn2")
    ]
    try:
        with pytest.raises(Interrupted), StopWhen(generator, lambda: "attn1" in reached):
            generator(z)
        assert reached == ["l2", "attn1"], "nothing after attn1 ran"
        assert _pre_hooks(generator) == 0
        with StopWhen(generator, lambda: False):
            generator(z)
    finally:
        for handle in handles:
            handle.remove()
    assert _pre_hooks(generator) == 0


@torch.no_grad()
def test_only_the_entering_thread_is_stopped(generator: Generator) -> None:
    z = sample_latents([2], generator.config.z_dim)
    other: list[torch.Tensor] = []
    with StopWhen(generator, lambda: True):
        thread = threading.Thread(target=lambda: other.append(generator(z)))
        thread.start()
        thread.join()
        with pytest.raises(Interrupted):
            generator(z)
    assert other and other[0].shape == (1, 3, 64, 64)
