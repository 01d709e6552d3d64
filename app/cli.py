"""`sagan-attn serve | train | inspect`."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import SettingsError

__all__ = ["main"]

SETTINGS_ERRORS = (ValidationError, SettingsError)
HELP_FORMAT = argparse.ArgumentDefaultsHelpFormatter


def _one_line(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"setting {where or '?'} (environment SAGAN_ATTN_{where.upper()}): {first['msg']}"
    if isinstance(error, SettingsError):
        return f"{error}; list settings take JSON, e.g. SAGAN_ATTN_CORS_ORIGINS='[\"http://localhost:3000\"]'"
    text = " ".join(str(error).split())
    return text[:300] or type(error).__name__


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app, load_default
    from app.settings import Settings
    from models.checkpoint import CheckpointError

    try:
        chosen = {"checkpoint": args.checkpoint, "model_name": args.model_name}
        settings = Settings(**{key: value for key, value in chosen.items() if value is not None})
        loaded = load_default(settings)
    except (CheckpointError, *SETTINGS_ERRORS) as error:
        print(f"sagan-attn: {_one_line(error)}", file=sys.stderr)
        return 2
    uvicorn.run(create_app(settings, loaded), host=args.host, port=args.port, log_level="info")
    return 0


def _train(args: argparse.Namespace) -> int:
    from models.train import TrainOptions, train

    options = TrainOptions(
        data=args.data,
        out_dir=args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        g_conv_dim=args.conv_dim,
        d_conv_dim=args.conv_dim,
        seed=args.seed,
        sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every,
        diff_augment=not args.no_diff_augment,
        precision=args.precision,
        resume=args.resume,
    )
    try:
        model_path = train(options)
    except (ValueError, KeyError, OSError, RuntimeError, subprocess.CalledProcessError) as error:
        print(f"sagan-attn train: {_one_line(error)}", file=sys.stderr)
        return 2
    print(f"model written to {model_path}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from app.settings import Settings
    from models.checkpoint import CheckpointError, load_checkpoint
    from models.metrics import attention_statistics, format_statistics, save_sample_grid

    try:
        loaded = load_checkpoint(args.checkpoint or Settings().checkpoint)
    except (CheckpointError, *SETTINGS_ERRORS) as error:
        print(f"sagan-attn: {_one_line(error)}", file=sys.stderr)
        return 2
    print(format_statistics(loaded, attention_statistics(loaded.generator, seeds=range(args.seeds))))
    if args.grid is not None:
        save_sample_grid(loaded.generator, args.grid)
        print(f"\n8×8 grid of seeds 0–63 written to {args.grid}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sagan-attn", description="Explore the attention maps of a SAGAN generator.", formatter_class=HELP_FORMAT
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the explorer and its REST API", formatter_class=HELP_FORMAT)
    serve.add_argument("--checkpoint", type=Path, default=None, help="model file; None: the shipped emoji model")
    serve.add_argument(
        "--model-name", default=None, help="name in URLs (letters, digits, _ . -); None: the checkpoint's file stem"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind; the default is loopback only")
    serve.add_argument("--port", type=int, choices=range(1, 65536), metavar="PORT", default=8000, help="TCP port")
    serve.set_defaults(handler=_serve)

    train = commands.add_parser(
        "train", help="train a SAGAN on the emoji sets or a folder of images", formatter_class=HELP_FORMAT
    )
    train.add_argument("--data", default="emoji", help="'emoji' or a folder of images (resized to 64×64)")
    train.add_argument("--out", type=Path, default=Path("runs/emoji"), help="run folder for samples and checkpoints")
    train.add_argument("--steps", type=positive_int, default=6000)
    train.add_argument("--batch-size", type=positive_int, default=64)
    train.add_argument("--conv-dim", type=positive_int, default=32, help="channel width of G and D")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--sample-every", type=positive_int, default=250)
    train.add_argument("--checkpoint-every", type=positive_int, default=250)
    train.add_argument("--no-diff-augment", action="store_true", help="train without DiffAugment")
    train.add_argument("--resume", action="store_true", help="continue from <out>/train_state.pt")
    train.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        default="fp32",
        help="bf16: forward passes under bfloat16 autocast; nearly 2× faster on CPUs with AVX512-BF16 or AMX, slower without",
    )
    train.set_defaults(handler=_train)

    inspect = commands.add_parser(
        "inspect", help="print attention statistics of a checkpoint", formatter_class=HELP_FORMAT
    )
    inspect.add_argument("checkpoint", type=Path, nargs="?", default=None)
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
