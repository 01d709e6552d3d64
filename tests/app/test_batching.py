"""Distinct new samples waiting together share one forward pass of up to `batch_size`, each captured on its own."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import numpy as np
from PIL import Image

from models.registry import load
from tests.app.serving import BASE, run_scenario, served, slow_model, tiny_app


def _agrees_to_rounding(batched: tuple[np.ndarray, dict], alone: tuple[np.ndarray, dict]) -> bool:
    """Equal images but for a level here and there, and maps to float32 rounding (the CPU's batched kernels
    sum in another order than its one-sample kernels, so bit-equality is not on offer there)."""
    image_gap = np.abs(batched[0].astype(int) - alone[0].astype(int))
    maps_close = all(np.allclose(batched[1][name], alone[1][name], rtol=1e-4, atol=1e-6) for name in alone[1])
    return int(image_gap.max()) <= 1 and float(image_gap.mean()) < 1e-3 and maps_close


def test_batched_and_single_forward_passes_give_the_same_images_and_maps(
    checkpoint_path: Path, biggan_folder: Path
) -> None:
    for path in (checkpoint_path, biggan_folder):
        model = load(path)
        class_index, truncation = model.inputs.resolve(None, None)
        seeds = [4, 9, 2]
        classes = None if class_index is None else [class_index, class_index + 1, class_index + 2]
        batched = model.capture_batch(seeds, classes, truncation)
        for index, seed in enumerate(seeds):
            alone = model.capture(seed, None if classes is None else classes[index], truncation)
            assert _agrees_to_rounding(batched[index], alone), (path.name, seed)
            assert batched[index][1].keys() == alone[1].keys()
            assert not batched[index][1][model.layers[-1].name].flags.writeable
        first, second = (batched[index][1][model.layers[-1].name] for index in (0, 1))
        assert not np.allclose(first, second, rtol=1e-4, atol=1e-6), "the samples must differ for this to mean much"


def test_new_samples_waiting_together_share_one_forward_pass(checkpoint_path: Path) -> None:
    model, forward = slow_model(checkpoint_path, 0.3)

    application = tiny_app(model, batch_size=4)

    async def scenario() -> dict[int, tuple[np.ndarray, dict]]:
        async with served(application) as client:
            first = asyncio.create_task(client.get(f"{BASE}/1.png"))
            await asyncio.sleep(0.1)  # running alone; the next five wait for it
            waiting = {seed: asyncio.create_task(client.get(f"{BASE}/{seed}.png")) for seed in (2, 3, 4, 5, 6)}
            responses = {1: await first, **{seed: await task for seed, task in waiting.items()}}
            assert {response.status_code for response in responses.values()} == {200}
            cache = application.state.models["tiny"].cache
            decoded = {seed: Image.open(io.BytesIO(reply.content)).convert("RGB") for seed, reply in responses.items()}
            return {seed: (np.asarray(image), cache.get((seed, None, None))) for seed, image in decoded.items()}

    served_samples = run_scenario(scenario())
    assert forward.passes == [(1,), (6, 5, 4, 3), (2,)], "newest four together, then the one left"
    for seed, (png, cached) in served_samples.items():
        alone = model.capture(seed)
        assert np.array_equal(png, cached.image)
        assert _agrees_to_rounding((cached.image, cached.attention), alone), seed
