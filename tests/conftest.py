"""Fixtures: tiny models built in memory, saved in our checkpoint format, and a running app.

Tests take the builders as fixtures (`make_generator`, `tiny_config`, ...) rather than importing this file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from models.checkpoint import save_checkpoint
from models.sagan import Discriminator, Generator, SAGANConfig

TINY_CONFIG = SAGANConfig(z_dim=16, g_conv_dim=16, d_conv_dim=16)


def randomise(module: torch.nn.Module, seed: int) -> None:
    """Give attention layers a non-zero γ and peaked maps, and every BatchNorm non-trivial running stats."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, child in module.named_modules():
            if hasattr(child, "gamma"):
                child.gamma.fill_(0.5 if name.endswith("1") else -0.7)
                child.key_conv.weight.mul_(8.0)  # peaked maps, so different queries look clearly different
            if isinstance(child, torch.nn.BatchNorm2d):
                child.running_mean.copy_(torch.randn(child.num_features, generator=generator) * 0.1)
                child.running_var.copy_(torch.rand(child.num_features, generator=generator) + 0.5)
                child.weight.copy_(torch.rand(child.num_features, generator=generator) + 0.5)
                child.bias.copy_(torch.randn(child.num_features, generator=generator) * 0.1)


def tiny_generator(config: SAGANConfig = TINY_CONFIG, seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    generator = Generator(config)
    randomise(generator, seed)
    return generator.eval()


def features_entering(generator: Generator, z: torch.Tensor) -> dict[str, torch.Tensor]:
    """The inputs of attn1 and attn2, computed layer by layer without hooks."""
    out = generator.l3(generator.l2(generator.l1(z.view(z.shape[0], -1, 1, 1))))
    attn1_input = out
    attn2_input = generator.l4(generator.attn1(out))
    return {"attn1": attn1_input, "attn2": attn2_input}


def attention_by_hand(layer: torch.nn.Module, features: torch.Tensor) -> torch.Tensor:
    """softmax(QKᵀ) of a layer with unpooled keys, from its convolutions, without the module's forward."""
    query = layer.query_conv(features).flatten(2)  # (B, C/8, N)
    key = layer.key_conv(features).flatten(2)  # (B, C/8, N)
    energy = torch.einsum("bcn,bcm->bnm", query, key)  # (B, N, N)
    return torch.softmax(energy, dim=-1)


@pytest.fixture(scope="session")
def tiny_config() -> SAGANConfig:
    return TINY_CONFIG


@pytest.fixture(scope="session")
def make_generator() -> Callable[..., Generator]:
    """`make_generator(config=tiny_config, seed=0)`: a tiny generator with non-zero γ and peaked maps."""
    return tiny_generator


@pytest.fixture(scope="session")
def randomise_weights() -> Callable[[torch.nn.Module, int], None]:
    return randomise


@pytest.fixture(scope="session")
def hand_attention() -> tuple[Callable[..., dict[str, torch.Tensor]], Callable[..., torch.Tensor]]:
    """(features_entering, attention_by_hand): a generator's maps computed with no hooks."""
    return features_entering, attention_by_hand


@pytest.fixture
def generator() -> Generator:
    return tiny_generator()


@pytest.fixture
def checkpoint_path(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.pt"
    torch.manual_seed(1)
    discriminator = Discriminator(TINY_CONFIG)
    training = {"steps": 3, "data": "test data", "licence": "none", "attribution": "made in the test"}
    save_checkpoint(path, TINY_CONFIG, tiny_generator(), discriminator, training)
    return path


@pytest.fixture
def client(checkpoint_path: Path) -> Iterator[TestClient]:
    settings = Settings(checkpoint=checkpoint_path, model_name="tiny", cache_bytes=8 * 2**20, torch_threads=1)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def biggan_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random-weight BigGAN-deep with ImageNet's 1,000 classes, as `config.json` + `pytorch_model.bin`."""
    from tests.models.biggan_reference import SMALL, randomised_reference, write_reference_files

    return write_reference_files(
        randomised_reference({**SMALL, "num_classes": 1000}), tmp_path_factory.mktemp("biggan") / "small-biggan"
    )


@pytest.fixture(scope="session")
def studiogan_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random-weight StudioGAN CIFAR-10 BigGAN run: its YAML and `model=G_ema-best-…pth`, 32×32 images,
    one attention layer on 16×16 queries with 8×8 pooled keys."""
    from tests.models.studiogan_reference import ReferenceGenerator, randomise, save_generator, write_yaml

    settings = {
        "backbone": "big_resnet",
        "dataset": "CIFAR10",
        "img_size": 32,
        "num_classes": 10,
        "g_cond_mtd": "cBN",
        "apply_g_sn": True,
        "g_act_fn": "ReLU",
        "apply_attn": True,
        "attn_g_loc": [2],
        "z_dim": 20,
        "g_shared_dim": 8,
        "g_conv_dim": 8,
    }
    folder = tmp_path_factory.mktemp("studiogan") / "cifar-studiogan"
    folder.mkdir()
    write_yaml(folder, settings)
    save_generator(randomise(ReferenceGenerator(settings), 5), folder / "model=G_ema-best-weights-step=2000.pth")
    return folder


@pytest.fixture
def biggan_client(biggan_folder: Path) -> Iterator[TestClient]:
    settings = Settings(checkpoint=biggan_folder, model_name="big", cache_bytes=8 * 2**20, torch_threads=1)
    with TestClient(create_app(settings)) as test_client:
        yield test_client
