"""`amyplant eval detect|verify|identify|attributes`: figures on public data formats, as table or JSON."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from amyplant.evaluation.compare import COMPARE_CHOICES, comparison_engines
from amyplant.evaluation.engines import OURS, FaceEngine, PipelineEngine
from amyplant.evaluation.formats import FormatError
from amyplant.evaluation.report import document, render_json

Command = Callable[[argparse.Namespace], int]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `eval` command and its subcommands; each sets `func(args) -> int`."""
    evaluation = subparsers.add_parser(
        "eval", help="measure detection, verification, identification and age/gender on labelled data"
    )
    commands = evaluation.add_subparsers(dest="eval_command", required=True, metavar="COMMAND")

    detect = commands.add_parser("detect", help="recall, precision, AP@0.5 and speed against annotated boxes")
    detect.add_argument(
        "--dlib-xml",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="dlib imglab XML with <box> ground truth (repeatable: one dataset each)",
    )
    detect.add_argument(
        "--images",
        type=Path,
        metavar="DIR",
        help="folder the XML's image files are relative to (default: the XML's folder)",
    )
    detect.add_argument(
        "--labelme",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="folder of LabelMe JSON files with face rectangles (repeatable)",
    )
    _common(detect)
    detect.set_defaults(func=_guarded(run_detect))

    verify = commands.add_parser("verify", help="same/different-person accuracy, AUC and TAR@FAR on pairs")
    verify.add_argument(
        "--pairs",
        type=Path,
        required=True,
        metavar="CSV",
        help="file_x,file_y,Decision rows (Yes/No, 1/0, same/different)",
    )
    verify.add_argument("--images", type=Path, metavar="DIR", help="images folder (default: the CSV's)")
    _threshold(verify)
    _common(verify)
    verify.set_defaults(func=_guarded(run_verify))

    identify = commands.add_parser("identify", help="enroll people from folders, then name faces in probes")
    identify.add_argument("--enroll", type=Path, required=True, metavar="DIR", help="DIR/<person>/*.jpg")
    identify.add_argument("--probe", type=Path, required=True, metavar="DIR", help="folder of probe images")
    identify.add_argument(
        "--labels",
        type=Path,
        metavar="CSV",
        help="file,identities rows (';' between people; default: PROBE/labels.csv)",
    )
    _threshold(identify)
    _common(identify)
    identify.set_defaults(func=_guarded(run_identify))

    attributes = commands.add_parser("attributes", help="age MAE and gender accuracy")
    attributes.add_argument("--labels", type=Path, required=True, metavar="CSV", help="file,age,gender rows")
    attributes.add_argument("--images", type=Path, metavar="DIR", help="images folder (default: the CSV's)")
    _common(attributes)
    attributes.set_defaults(func=_guarded(run_attributes))

    variants = commands.add_parser(
        "variant-pairs",
        help="write harder pairs: each one-face image also as a tight crop, small, turned and dark",
    )
    variants.add_argument("--pairs", type=Path, required=True, metavar="CSV", help="the source pairs file")
    variants.add_argument(
        "--boxes", type=Path, required=True, metavar="XML", help="dlib imglab XML with each image's face box"
    )
    variants.add_argument("--images", type=Path, metavar="DIR", help="images folder (default: the CSV's)")
    variants.add_argument("--out", type=Path, required=True, metavar="DIR", help="where to write them")
    variants.set_defaults(func=_guarded(run_variant_pairs))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument(
        "--model-version",
        type=int,
        metavar="N",
        help="evaluate version N of the models (default: the newest served)",
    )
    parser.add_argument(
        "--compare",
        action="append",
        choices=COMPARE_CHOICES,
        default=[],
        help="also run another face system on the same data, in the same run",
    )
    parser.add_argument(
        "--repo",
        type=Path,
        metavar="DIR",
        help="model repository to run in process (default: the configured model runtime)",
    )


def _threshold(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threshold",
        type=float,
        metavar="D",
        help="largest descriptor distance for the same person (default: the gallery's, 0.6)",
    )


def _guarded(command: Command) -> Command:
    """Bad input is one clear line on stderr and exit code 2, never a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (FormatError, ValueError, RuntimeError, OSError) as error:
            print(f"amyplant eval {args.eval_command}: {error}", file=sys.stderr)
            return 2

    return run


@contextmanager
def engines(
    args: argparse.Namespace, *, with_attributes: bool, detector_only: bool = False
) -> Iterator[tuple[PipelineEngine, list[FaceEngine]]]:
    """Our pipeline at the requested model version, and the --compare systems. `detector_only`: only
    the detector is loaded, so a detector version can be measured while the other models lack it."""
    from amyplant.evaluation.service_gallery import gallery_settings
    from amyplant_config.settings import CommonSettings
    from amyplant_faces.models.client import ModelClient, create_model_client
    from amyplant_faces.models.inprocess import InProcessRuntime
    from amyplant_faces.pipeline.faces import FacePipeline

    others = comparison_engines(args.compare)  # fails fast when the library is missing
    client: ModelClient = InProcessRuntime(args.repo) if args.repo else create_model_client(CommonSettings())
    threshold = getattr(args, "threshold", None)
    threshold = gallery_settings().match_threshold if threshold is None else threshold
    with client:
        ours = PipelineEngine(
            FacePipeline(client, with_attributes=with_attributes),
            threshold=threshold,
            model_version=args.model_version,
        )
        ours.warm_up(detector_only=detector_only)
        yield ours, others


def _emit(args: argparse.Namespace, columns: dict[str, dict[str, Any]], text: str) -> None:
    if args.json:
        extra = {"model_version": args.model_version}
        print(render_json(document(args.eval_command, columns, OURS, extra=extra)))
    else:
        print(text)


def run_detect(args: argparse.Namespace) -> int:
    from amyplant.evaluation import detect
    from amyplant.evaluation.box_formats import read_dlib_xml, read_labelme_dir

    if not args.dlib_xml and not args.labelme:
        raise ValueError("give ground truth with --dlib-xml FILE or --labelme DIR")
    datasets = [read_dlib_xml(path, args.images) for path in args.dlib_xml]
    datasets += [read_labelme_dir(path) for path in args.labelme]
    with engines(args, with_attributes=False, detector_only=True) as (ours, others):
        columns = detect.evaluate_detection([ours, *others], datasets)
    _emit(args, columns, detect.render(columns))
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from amyplant.evaluation import verify
    from amyplant.evaluation.formats import read_pairs

    pairs = read_pairs(args.pairs, args.images or args.pairs.parent)
    with engines(args, with_attributes=False) as (ours, others):
        columns = verify.evaluate_verification([ours, *others], pairs, args.pairs)
    _emit(args, columns, verify.render(columns))
    return 0


def run_identify(args: argparse.Namespace) -> int:
    from amyplant.evaluation import identify
    from amyplant.evaluation.formats import enrollment_folders, read_identity_labels
    from amyplant.evaluation.service_gallery import PinnedVersionClient, ServiceGallery, private_database
    from amyplant_faces.pipeline.faces import FacePipeline

    labels_path = args.labels or args.probe / "labels.csv"
    people = enrollment_folders(args.enroll)
    labels = read_identity_labels(labels_path, args.probe)
    # The gallery's pipeline computes attributes too: keep it so, so that ms per probe is the API's cost.
    with engines(args, with_attributes=True) as (ours, others), private_database() as sessions:
        pipeline = ours.pipeline
        if args.model_version is not None:
            pipeline = FacePipeline(PinnedVersionClient(pipeline.models, args.model_version))
        galleries: list[identify.Gallery] = [ServiceGallery(sessions, pipeline, threshold=ours.threshold)]
        galleries += [identify.InMemoryGallery(engine) for engine in others]
        columns = identify.evaluate_identification([ours, *others], galleries, people, labels, labels_path)
    _emit(args, columns, identify.render(columns))
    return 0


def run_attributes(args: argparse.Namespace) -> int:
    from amyplant.evaluation import attributes
    from amyplant.evaluation.formats import read_attribute_labels

    labels = read_attribute_labels(args.labels, args.images or args.labels.parent)
    with engines(args, with_attributes=True) as (ours, others):
        columns = attributes.evaluate_attributes([ours, *others], labels, args.labels)
    _emit(args, columns, attributes.render(columns))
    return 0


def run_variant_pairs(args: argparse.Namespace) -> int:
    from amyplant.evaluation.variant_pairs import write_variant_pairs

    images = args.images or args.pairs.parent
    written = write_variant_pairs(pairs=args.pairs, boxes=args.boxes, images=images, out=args.out)
    print(f"wrote {written}: evaluate with `amyplant eval verify --pairs {written}`")
    return 0
