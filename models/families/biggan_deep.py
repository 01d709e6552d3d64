"""BigGAN-deep as `pytorch-pretrained-biggan` ships it: a folder holding `config.json` and `pytorch_model.bin`.

The architecture and its loading are in `models.biggan`. A seed s with truncation t becomes
z as the package's own `truncated_noise_sample(batch_size=1, dim_z=128, truncation=t, seed=s)`
draws it (`models.biggan.sample_inputs`): t times scipy's standard normal truncated to [−2, 2]
from `numpy.random.RandomState(s)`, in float32, so the package's examples reproduce here; the
class is a one-hot vector. The one attention layer sits before `layers[attention_layer_position]`,
keys pooled 2×2.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from models import biggan
from models.families.base import LoadedModel, SamplingInputs
from models.geometry import AttentionLayer
from models.imagenet import imagenet_class_names

__all__ = ["BigGANDeepFamily"]


class BigGANDeepFamily:
    name = "biggan-deep"
    needs = f"a pytorch-pretrained-biggan folder holding {biggan.CONFIG_NAME} and {biggan.WEIGHTS_NAME}"
    default_truncation = 0.4

    def recognises(self, path: Path) -> bool:
        return path.is_dir() and os.path.lexists(path / biggan.CONFIG_NAME)  # a broken config gets its own message

    def load(self, path: Path) -> LoadedModel:
        model = biggan.load_biggan_folder(path)
        config = model.config
        names = imagenet_class_names() if config.num_classes == 1000 else tuple(map(str, range(config.num_classes)))
        layers = tuple(
            AttentionLayer.of(info, float(model.get_submodule(info.name).gamma.item()))
            for info in biggan.attention_layers(config)
        )

        def generate(seeds: Sequence[int], classes: Sequence[int] | None, truncation: float | None) -> torch.Tensor:
            if classes is None or truncation is None:
                raise ValueError("BigGAN-deep needs one class per seed and a truncation in (0, 1]")
            return biggan.generate(model, seeds, classes, truncation)

        def latents(seed: int, class_index: int | None, truncation: float | None) -> torch.Tensor:
            truncation = self.default_truncation if truncation is None else truncation
            return biggan.sample_inputs(seed, 0 if class_index is None else class_index, truncation, config)[0]

        inputs = SamplingInputs(config.z_dim, names, biggan.TRUNCATION_RANGE, self.default_truncation)
        return LoadedModel(
            family=self.name,
            path=path,
            module=model,
            image_size=config.output_dim,
            inputs=inputs,
            layers=layers,
            generate=generate,
            source_format="pytorch-pretrained-biggan",
            config=config.to_dict(),
            training={"data": "ImageNet" if config.num_classes == 1000 else None},
            latents=latents,
        )
