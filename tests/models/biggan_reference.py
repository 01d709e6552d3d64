"""A small reference BigGAN-deep (`pytorch-pretrained-biggan` 0.1.1) with every weight drawn, written as its files."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from pytorch_pretrained_biggan import BigGAN as ReferenceBigGAN
from pytorch_pretrained_biggan import BigGANConfig as ReferenceConfig

# 32×32 output, attention before layer 3 on a 16×16 query grid with 32 channels; statistics stored
# for truncations 0, 0.25, 0.5, 0.75 and 1.
SMALL = {
    "output_dim": 32,
    "z_dim": 16,
    "class_embed_dim": 16,
    "channel_width": 8,
    "num_classes": 10,
    "layers": [[False, 16, 16], [True, 16, 8], [True, 8, 4], [False, 4, 4], [True, 4, 2], [False, 2, 1]],
    "attention_layer_position": 3,
    "eps": 1e-4,
    "n_stats": 5,
}
ATTENTION = "generator.layers.3"


def randomised_reference(raw: dict, seed: int = 0) -> ReferenceBigGAN:
    """The reference model with every parameter and buffer drawn here, in eval mode.

    Its last batch norm's weight and bias are created uninitialised, so nothing is left as built.
    Per-truncation statistics get a different random row for every stored truncation; u and v are
    brought near the top singular vectors so σ is the spectral norm, as in trained weights, except
    for θ and φ, whose σ is shrunk so the maps are far from uniform.
    """
    model = ReferenceBigGAN(ReferenceConfig.from_dict(raw))
    draw = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
            shape = tensor.shape
            if name.endswith("running_vars"):
                tensor.copy_(torch.rand(shape, generator=draw) + 0.5)
            elif name.endswith("running_means"):
                tensor.copy_(torch.randn(shape, generator=draw) * 0.5)
            elif name.endswith("gamma"):
                tensor.fill_(0.8)
            elif name == "generator.bn.weight":
                tensor.copy_(torch.rand(shape, generator=draw) + 0.5)
            elif name.endswith("bias"):
                tensor.copy_(torch.randn(shape, generator=draw) * 0.1)
            else:  # weight_orig, weight_u, weight_v, embeddings.weight
                tensor.copy_(torch.randn(shape, generator=draw))
        for module in model.modules():
            if hasattr(module, "weight_orig"):
                matrix = module.weight_orig.flatten(1)  # (out, rest)
                for _ in range(5):
                    module.weight_v.copy_(F.normalize(matrix.t() @ module.weight_u, dim=0))
                    module.weight_u.copy_(F.normalize(matrix @ module.weight_v, dim=0))
        attention = model.generator.layers[raw["attention_layer_position"]]
        for conv in (attention.snconv1x1_theta, attention.snconv1x1_phi):
            conv.weight_u.mul_(0.25)  # σ/4, so θ and φ are 4× larger and the maps clearly peaked
    return model.eval()


def write_reference_files(model: ReferenceBigGAN, folder: Path) -> Path:
    """As the package's converter writes them: its own config JSON and `torch.save(state_dict)`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(model.config.to_json_string(), encoding="utf-8")
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder
