"""`sagan-attn serve | train | inspect`."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from models.devices import DEVICE_CHOICES
from models.sagan import G_BLOCKS
from models.train import BALANCES, PRECISIONS
from models.train_options import TrainOptions

__all__ = ["main"]

HELP_FORMAT = argparse.ArgumentDefaultsHelpFormatter


def _settings_errors() -> tuple[type[BaseException], ...]:
    """Imported here, not at the top: `train` runs where only torch and its kin are installed (a GPU machine)."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    return ValidationError, SettingsError


def _one_line(error: BaseException) -> str:
    pydantic, pydantic_settings = sys.modules.get("pydantic"), sys.modules.get("pydantic_settings")
    if pydantic is not None and isinstance(error, pydantic.ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"setting {where or '?'} (environment SAGAN_ATTN_{where.upper()}): {first['msg']}"
    if pydantic_settings is not None and isinstance(error, pydantic_settings.SettingsError):
        return f"{error}; list settings take JSON, e.g. SAGAN_ATTN_CORS_ORIGINS='[\"http://localhost:3000\"]'"
    text = " ".join(str(error).split())
    return text[:300] or type(error).__name__


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive integer, got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _one_source(args: argparse.Namespace) -> bool:
    """--checkpoint and --generator name two models; refuse both at once in one line."""
    if args.generator is not None and args.checkpoint is not None:
        print("sagan-attn: give --checkpoint or --generator, not both", file=sys.stderr)
        return False
    return True


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    if not _one_source(args):
        return 2

    from app.main import create_app, load_default
    from app.server import SERVER_OPTIONS
    from app.settings import Settings
    from models.checkpoint import CheckpointError

    try:
        chosen = {
            "checkpoint": args.checkpoint,
            "model_name": args.model_name,
            "device": args.device,
            "generator": args.generator,
            "generator_args": args.generator_arg or None,
        }
        settings = Settings(**{key: value for key, value in chosen.items() if value is not None})
        loaded = load_default(settings)
    except (CheckpointError, ValueError, *_settings_errors()) as error:
        print(f"sagan-attn: {_one_line(error)}", file=sys.stderr)
        return 2
    uvicorn.run(create_app(settings, loaded), host=args.host, port=args.port, log_level="info", **SERVER_OPTIONS)
    return 0


TRAIN_FLAGS = {  # TrainOptions field → what its flag says
    "data": "'emoji' or a folder of images (resized to 64×64)",
    "out_dir": "run folder for samples, plots, the resumable state and model.pt",
    "steps": "total steps of the run, earlier sittings included",
    "batch_size": "global batch size",
    "g_conv_dim": "channel width of G",
    "d_conv_dim": "channel width of D",
    "z_dim": "latent size",
    "attn_key_pool": "1: full N×N attention maps (the reference); 2: keys and values max-pooled 2×2",
    "g_blocks": "G's up-blocks: 'residual' (nearest upsampling + 3×3 convs) or 'transposed' (the reference's)",
    "g_lr": "G learning rate",
    "d_lr": "D learning rate",
    "ema_decay": "decay of the exported EMA generator",
    "balance": "'image': every image equally likely; 'emoji': every emoji, its skin-tone variants sharing",
    "seed": "seed of every random draw",
    "sample_every": "write a sample grid every N steps",
    "checkpoint_every": "write the resumable state and model.pt every N steps",
    "checkpoint_minutes": "0: off; else also write them whenever this many minutes have passed",
    "time_limit_minutes": "0: none; else write them and stop after this many minutes (continue with --resume)",
    "evaluate_every": "0: never; else the quality score (see `evaluate`) every N steps, logged and plotted",
    "evaluate_samples": "samples per quality score during training",
    "precision": "bf16: forward passes under bfloat16 autocast; faster on CPUs with AVX512-BF16 or AMX, slower without",
    "device": "auto: CUDA when torch sees it, else CPU",
}
TRAIN_SWITCHES = {  # TrainOptions boolean field → the flag that turns it off
    "diff_augment": "--no-diff-augment",
    "shared_forward": "--separate-forwards",
    "fused_attention": "--explicit-attention",
    "channels_last": "--contiguous",
}
TRAIN_ENABLES = {  # TrainOptions boolean field (off by default) → the flag that turns it on
    "conditional": "the emoji categories as classes: conditional batch norm in G, a projection discriminator",
    "keep_checkpoints": "keep every exported model as <out>/checkpoints/step_N.pt",
}


def given_train_options(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainOptions fields that this command line sets explicitly."""
    names = [*TRAIN_FLAGS, *TRAIN_SWITCHES, *TRAIN_ENABLES]
    given = {name: getattr(args, name) for name in names if hasattr(args, name)}
    if hasattr(args, "conv_dim"):
        given.setdefault("g_conv_dim", args.conv_dim)
        given.setdefault("d_conv_dim", args.conv_dim)
    return given


def _train(args: argparse.Namespace) -> int:
    import torch

    from models.train import STATE_FILE, train
    from models.train_options import TrainOptions, resume_options

    given = given_train_options(args)
    try:
        if args.resume:
            out_dir = given.get("out_dir", TrainOptions.out_dir)
            state_path = Path(out_dir) / STATE_FILE
            if not state_path.exists():
                raise ValueError(f"--resume: {state_path} does not exist; start without --resume")
            # Memory-mapped: only the options are read here; `train` loads the tensors once.
            saved = torch.load(state_path, map_location="cpu", weights_only=True, mmap=True)["options"]
            options = resume_options(saved, given)
        else:
            options = TrainOptions(**given)
        model_path = train(options)
    except (ValueError, KeyError, OSError, RuntimeError, subprocess.CalledProcessError) as error:
        print(f"sagan-attn train: {_one_line(error)}", file=sys.stderr)
        return 2
    print(f"model written to {model_path}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from models.checkpoint import CheckpointError, load_checkpoint
    from models.data import load_emoji
    from models.quality import (
        QualityMeter,
        evaluate_generator,
        format_report,
        format_targets,
        load_or_train_classifier,
    )

    try:
        checkpoints = [load_checkpoint(path) for path in args.checkpoints]
        baseline = None if args.baseline is None else load_checkpoint(args.baseline)
    except CheckpointError as error:
        print(f"sagan-attn: {_one_line(error)}", file=sys.stderr)
        return 2
    dataset = load_emoji()
    meter = QualityMeter(dataset, *load_or_train_classifier(dataset))
    baseline_frechet = None
    if baseline is not None:
        baseline_frechet = evaluate_generator(baseline.generator, meter, args.samples).frechet
        print(f"baseline     {baseline.path}: Fréchet distance {baseline_frechet:.2f}\n")
    for index, loaded in enumerate(checkpoints):
        if index:
            print()
        print(f"checkpoint   {loaded.path}")
        report = evaluate_generator(loaded.generator, meter, args.samples, args.per_class_samples)
        print(format_report(report))
        print()
        print(format_targets(report, baseline_frechet))
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from app.settings import Settings
    from models.checkpoint import CheckpointError
    from models.metrics import attention_statistics, format_attention_targets, format_statistics, save_sample_grid
    from models.registry import load
    from models.user_generator import format_found_layers, load_generator, parse_generator_args

    if not _one_source(args):
        return 2
    try:
        if args.generator is not None:
            model = load_generator(args.generator, parse_generator_args(args.generator_arg or []))
        else:
            model = load(args.checkpoint or Settings().checkpoint)
        statistics = attention_statistics(model, seeds=range(args.seeds))
    except (CheckpointError, ValueError, *_settings_errors()) as error:
        print(f"sagan-attn: {_one_line(error)}", file=sys.stderr)
        return 2
    if args.generator is not None:
        print(format_found_layers(model))
        print()
    print(format_statistics(model, statistics))
    if statistics and str(model.training.get("data", "")).startswith("emoji"):
        print()
        print(format_attention_targets(statistics[-1]))
    if args.grid is not None:
        save_sample_grid(model, args.grid)
        print(f"\n8×8 grid of seeds 0–63 written to {args.grid}")
    return 0


def _add_generator_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--generator",
        default=None,
        metavar="MODULE:FACTORY",
        help="your own generator: import MODULE (this runs its code) and call FACTORY; replaces the checkpoint",
    )
    parser.add_argument(
        "--generator-arg",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="keyword argument for the factory, repeatable; VALUE read as a Python literal where it parses",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sagan-attn", description="Explore the attention maps of a SAGAN generator.", formatter_class=HELP_FORMAT
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the explorer and its REST API", formatter_class=HELP_FORMAT)
    serve.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="a SAGAN-64 model file, a BigGAN-deep folder holding config.json and pytorch_model.bin, or a "
        "BigGAN-PyTorch folder holding G_ema.pth (or G.pth) and state_dict.pth; "
        "None: the shipped emoji model",
    )
    serve.add_argument(
        "--device", choices=DEVICE_CHOICES, default="auto", help="auto: CUDA when torch sees it, else the CPU"
    )
    serve.add_argument(
        "--model-name", default=None, help="name in URLs (letters, digits, _ . -); None: the checkpoint's file stem"
    )
    _add_generator_options(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind; the default is loopback only")
    serve.add_argument("--port", type=int, choices=range(1, 65536), metavar="PORT", default=8000, help="TCP port")
    serve.set_defaults(handler=_serve)

    train = commands.add_parser(
        "train",
        help="train a SAGAN on the emoji sets or a folder of images",
        description="Train a SAGAN. With --resume, the run's stored options are used; options given again must agree.",
        formatter_class=HELP_FORMAT,
    )
    defaults = TrainOptions()
    for name, text in TRAIN_FLAGS.items():
        default = getattr(defaults, name)
        kind = positive_int if isinstance(default, int) and name not in ("seed", "evaluate_every") else type(default)
        if name == "evaluate_every":
            kind = non_negative_int
        flag = "--out" if name == "out_dir" else "--" + name.replace("_", "-")
        choices = {
            "precision": PRECISIONS,
            "device": DEVICE_CHOICES,
            "g_blocks": G_BLOCKS,
            "balance": BALANCES,
            "attn_key_pool": (1, 2),
        }.get(name)
        # Absent unless given, so that --resume can tell given options from the stored ones.
        train.add_argument(
            flag, dest=name, type=kind, choices=choices, default=argparse.SUPPRESS, help=f"{text} (default: {default})"
        )
    train.add_argument(
        "--conv-dim",
        type=positive_int,
        default=argparse.SUPPRESS,
        help="channel width of G and D together (default: their own defaults above)",
    )
    for name, flag in TRAIN_SWITCHES.items():
        train.add_argument(
            flag,
            dest=name,
            action="store_const",
            const=False,
            default=argparse.SUPPRESS,
            help=f"turn off {name.replace('_', ' ')} (default: on)",
        )
    for name, text in TRAIN_ENABLES.items():
        train.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            action="store_const",
            const=True,
            default=argparse.SUPPRESS,
            help=f"{text} (default: off)",
        )
    train.add_argument("--resume", action="store_true", help="continue from <out>/train_state.pt with its options")
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="score an emoji checkpoint's samples against the real emoji (classifier-feature distances)",
        formatter_class=HELP_FORMAT,
    )
    evaluate.add_argument("checkpoints", type=Path, nargs="+", metavar="CHECKPOINT", help="one or more model files")
    evaluate.add_argument("--samples", type=positive_int, default=1536, help="samples of seeds 0..N-1")
    evaluate.add_argument(
        "--per-class-samples",
        type=positive_int,
        default=256,
        help="a class-conditional model: samples of each class, scored against that class's real images",
    )
    evaluate.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="a model file to measure the 'at most 1/3 of its distance' target against",
    )
    evaluate.set_defaults(handler=_evaluate)

    inspect = commands.add_parser(
        "inspect", help="print attention statistics of a checkpoint", formatter_class=HELP_FORMAT
    )
    inspect.add_argument(
        "checkpoint",
        type=Path,
        nargs="?",
        default=None,
        help="a SAGAN-64 model file, unconditional or class-conditional",
    )
    _add_generator_options(inspect)
    inspect.add_argument("--seeds", type=positive_int, default=64, help="measure over seeds 0..N-1")
    inspect.add_argument("--grid", type=Path, default=None, help="also save an 8×8 grid of seeds 0–63 as PNG")
    inspect.set_defaults(handler=_inspect)
    for command in commands.choices.values():
        _show_every_default(command)
    return parser


def _show_every_default(parser: argparse.ArgumentParser) -> None:
    """The defaults formatter shows a default only after help text; give every other option some."""
    for action in parser._actions:
        if action.help is None and action.default is not argparse.SUPPRESS:
            action.help = "(default: %(default)s)"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
