"""`amyplant-trainer` (and `amyplant trainer`): the training service; `train` and `dataset ...` beside it."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from amyplant_config.command import run_command
from amyplant_queue import training_options as defaults


def at_least_one(text: str) -> int:
    """argparse type of the counts TrainingOptions does not carry (batch size, split block)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number is needed, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`amyplant train`, `amyplant dataset ...` and `amyplant trainer`."""
    register_tools(subparsers)
    trainer = subparsers.add_parser("trainer", help="run the trainer service (Celery, queue 'training')")
    trainer.set_defaults(func=run_trainer)


def register_tools(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands that train or prepare datasets by hand, without the queue."""
    train = subparsers.add_parser("train", help="train a face detector on a dataset and publish it if better")
    train.add_argument("--dataset", type=Path, required=True, help="folder of images with LabelMe JSON")
    train.add_argument("--repo", type=Path, help="model repository (default: AMYPLANT_MODEL_REPOSITORY)")
    train.add_argument(
        "--workdir", type=Path, help="checkpoints and the candidate (default: <state>/training)"
    )
    train.add_argument("--epochs", type=int, default=defaults.DEFAULT_EPOCHS)
    train.add_argument("--backbone", choices=defaults.BACKBONES, default=defaults.DEFAULT_BACKBONE)
    train.add_argument(
        "--size",
        type=int,
        default=defaults.DEFAULT_SIZE,
        help=f"network input size (multiple of {defaults.SIZE_MULTIPLE})",
    )
    train.add_argument(
        "--stride",
        type=int,
        choices=defaults.STRIDES,
        default=defaults.DEFAULT_STRIDE,
        help="cell size of the heads (8: small faces)",
    )
    train.add_argument(
        "--expansion",
        type=int,
        default=defaults.DEFAULT_EXPANSION,
        help="augmented copies of each training image",
    )
    train.add_argument(
        "--close-up-share",
        type=float,
        default=defaults.DEFAULT_CLOSE_UP_SHARE,
        help="share of augmented samples that are close-ups of one face (for cameras people walk up to)",
    )
    train.add_argument("--batch-size", type=at_least_one, default=16)
    train.add_argument("--seed", type=int, default=defaults.DEFAULT_SEED)
    train.add_argument("--block", type=at_least_one, default=10, help="consecutive images kept in one split")
    train.add_argument("--force", action="store_true", help="publish even if not better than the served one")
    train.set_defaults(func=run_train)

    dataset = subparsers.add_parser("dataset", help="prepare training datasets")
    actions = dataset.add_subparsers(dest="dataset_command", required=True)
    annotate = actions.add_parser("annotate", help="write LabelMe JSON from the served detector")
    annotate.add_argument("folder", type=Path)
    annotate.add_argument("--overwrite", action="store_true")
    annotate.set_defaults(func=run_annotate)
    validate = actions.add_parser("validate", help="check every annotation, list every problem")
    validate.add_argument("folder", type=Path)
    validate.set_defaults(func=run_validate)


def run_train(args: argparse.Namespace) -> int:
    from amyplant_config.settings import TrainerSettings
    from amyplant_trainer.fitting import Hyperparameters
    from amyplant_trainer.publishing import train_and_publish
    from amyplant_trainer.split import SplitPlan

    options = training_options(args)
    settings = TrainerSettings()
    hyper = Hyperparameters.from_options(options, batch_size=args.batch_size)
    outcome = train_and_publish(
        args.dataset,
        repo=args.repo or settings.common.resolved_model_repository,
        workdir=args.workdir or settings.common.state_dir / "training" / "cli",
        hyper=hyper,
        force=options.force,
        plan=SplitPlan(block=args.block, seed=args.seed),
    )
    print(
        json.dumps(
            {
                "split": outcome.split_sizes,
                "gate": outcome.gate,
                "published_version": outcome.published_version,
            },
            indent=2,
            default=str,
        )
    )
    return 0


def training_options(args: argparse.Namespace) -> defaults.TrainingOptions:
    """The run's choices checked as the REST body and the queue message are (ranges, size multiple),
    before anything is loaded; a bad value is one line naming its option."""
    from pydantic import ValidationError

    try:
        return defaults.TrainingOptions(
            epochs=args.epochs,
            backbone=args.backbone,
            size=args.size,
            stride=args.stride,
            expansion=args.expansion,
            close_up_share=args.close_up_share,
            seed=args.seed,
            force=args.force,
        )
    except ValidationError as error:
        problems = [
            f"--{str(problem['loc'][0]).replace('_', '-')}: {problem['msg']} (got {problem['input']!r})"
            for problem in error.errors()
        ]
        raise ValueError("; ".join(problems)) from None


def run_annotate(args: argparse.Namespace) -> int:
    from amyplant_config.settings import CommonSettings
    from amyplant_faces.models.client import create_model_client
    from amyplant_trainer.datasets import pre_annotate

    with create_model_client(CommonSettings()) as models:
        written = pre_annotate(args.folder, models, overwrite=args.overwrite)
    print(f"wrote {written} annotation(s) in {args.folder}; correct them in LabelMe, then train")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from amyplant_trainer.datasets import load_dataset

    dataset = load_dataset(args.folder)
    negatives = sum(1 for a in dataset.annotations if not a.faces)
    print(
        f"{args.folder}: {len(dataset.annotations)} images, {dataset.faces} faces, "
        f"{negatives} without a face; ok"
    )
    return 0


def run_trainer(args: argparse.Namespace) -> int:
    from amyplant_config.settings import TrainerSettings
    from amyplant_trainer.worker import TrainerWorker

    return TrainerWorker(TrainerSettings()).run()


def main(argv: Sequence[str] | None = None) -> int:
    """Without a command: the training worker (what the trainer's container runs)."""
    parser = argparse.ArgumentParser(prog="amyplant-trainer", description=__doc__)
    parser.set_defaults(func=run_trainer)
    register_tools(parser.add_subparsers(dest="command"))
    return run_command(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
