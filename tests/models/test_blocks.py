from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import spectral_norm

from models.blocks import ClassConditioning, PooledKeyAttention, bake_power_iteration_norm, bake_spectral_norm
from models.capture import AttentionCapture


def _trained(layer: nn.Module, steps: int = 3) -> nn.Module:
    """A spectrally normed layer whose u and v have moved off their initial values, as in a saved run."""
    layer = spectral_norm(layer, eps=1e-6)
    layer.train()
    with torch.no_grad():
        layer.weight_orig.mul_(1.7)
    for _ in range(steps):
        layer(torch.randn(2, *_input_shape(layer)))
    return layer


def _input_shape(layer: nn.Module) -> tuple[int, ...]:
    if isinstance(layer, nn.Linear):
        return (layer.in_features,)
    return (layer.in_channels, 5, 5)


@pytest.mark.parametrize(
    ("layer", "dim"),
    [(nn.Linear(7, 5), 0), (nn.Conv2d(4, 6, 3), 0), (nn.ConvTranspose2d(4, 6, 4, stride=2), 1)],
)
def test_baked_weight_is_torch_spectral_norm_in_eval_and_train(layer: nn.Module, dim: int) -> None:
    torch.manual_seed(0)
    layer = _trained(layer)
    state = {key: tensor.clone() for key, tensor in layer.state_dict().items()}
    u, v = state["weight_u"], state["weight_v"]

    layer.eval()
    layer(torch.randn(1, *_input_shape(layer)))
    baked = bake_spectral_norm(state["weight_orig"], u, v, dim=dim)
    torch.testing.assert_close(baked, layer.weight, rtol=0, atol=1e-7)

    layer.load_state_dict(state)
    layer.train()(torch.randn(1, *_input_shape(layer)))
    stepped = bake_spectral_norm(state["weight_orig"], u, v, dim=dim, power_iterations=1, eps=1e-6)
    torch.testing.assert_close(stepped, layer.weight, rtol=0, atol=1e-7)
    assert (stepped - baked).abs().max() > 0  # one iteration moves σ, so the two modes really differ


def test_baking_refuses_u_and_v_of_another_layer() -> None:
    with pytest.raises(ValueError, match=r"u and v must be \(5,\) and \(7,\)"):
        bake_spectral_norm(torch.randn(5, 7), torch.randn(7), torch.randn(5))


def test_power_iteration_norm_runs_one_iteration_from_u0() -> None:
    torch.manual_seed(1)
    weight = torch.randn(6, 3, 3, 3, dtype=torch.float64)
    u0 = torch.randn(1, 6, dtype=torch.float64)
    matrix = weight.reshape(6, -1).numpy()
    v = u0.numpy() @ matrix
    v /= np.linalg.norm(v)
    u = v @ matrix.T
    u /= np.linalg.norm(u)
    sigma = (v @ matrix.T @ u.T).item()
    np.testing.assert_allclose(bake_power_iteration_norm(weight, u0).numpy(), weight.numpy() / sigma, rtol=1e-12)

    exact_u = torch.from_numpy(np.linalg.svd(matrix)[0][:, 0]).reshape(1, 6)
    top = torch.linalg.svdvals(weight.reshape(6, -1))[0]
    torch.testing.assert_close(bake_power_iteration_norm(weight, exact_u), weight / top)


def test_hierarchical_conditioning_splits_z_into_blocks_plus_one_chunks() -> None:
    conditioning = ClassConditioning(num_classes=4, shared_dim=3, z_dim=12, blocks=3, chunks=4)
    z = torch.arange(24.0).reshape(2, 12)
    classes = torch.tensor([1, 3])
    first, conditions = conditioning(z, classes)
    shared = conditioning.shared.weight[classes]
    torch.testing.assert_close(first, z[:, :3])
    assert len(conditions) == 3 and conditioning.condition_dim == 6
    for index, condition in enumerate(conditions):
        torch.testing.assert_close(condition, torch.cat([shared, z[:, 3 * (index + 1) : 3 * (index + 2)]], 1))


def test_flat_conditioning_gives_every_block_shared_and_whole_z() -> None:
    conditioning = ClassConditioning(num_classes=4, shared_dim=3, z_dim=5, blocks=2)
    z, classes = torch.randn(2, 5), torch.tensor([0, 2])
    first, conditions = conditioning(z, classes)
    assert first is z and conditioning.condition_dim == 8
    for condition in conditions:
        torch.testing.assert_close(condition, torch.cat([conditioning.shared.weight[classes], z], 1))
    with pytest.raises(ValueError, match="blocks \\+ 1 = 3 equal chunks"):
        ClassConditioning(num_classes=4, shared_dim=3, z_dim=6, blocks=2, chunks=2)


def test_pooled_key_attention_map_is_softmax_of_theta_and_pooled_phi() -> None:
    torch.manual_seed(2)
    layer = PooledKeyAttention(16).eval()
    with torch.no_grad():
        layer.gamma.fill_(0.6)
    x = torch.randn(2, 16, 6, 6)
    with torch.no_grad(), AttentionCapture(layer, [""]) as capture:
        out = layer(x)
    theta = torch.einsum("oc,bchw->bohw", layer.theta.weight[:, :, 0, 0], x).flatten(2)  # (B, 2, 36)
    phi = torch.einsum("oc,bchw->bohw", layer.phi.weight[:, :, 0, 0], x)
    phi = phi.reshape(2, 2, 3, 2, 3, 2).amax(dim=(3, 5)).flatten(2)  # (B, 2, 9)
    expected = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (B, 36, 9)
    torch.testing.assert_close(capture.maps[""], expected, rtol=0, atol=1e-6)
    assert out.shape == x.shape and not torch.allclose(out, x)
