"""Command line: ``python -m fastspike train|eval|plot|serve|models ...``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

from fastspike import distributed, usage
from fastspike.api import load_model, phase_epochs, resolve_spec, train_mnist
from fastspike.data import load_dataset
from fastspike.distributed import DistributedError
from fastspike.families import family_of, family_of_checkpoint
from fastspike.metrics import format_metrics
from fastspike.registry import ALIASES, MODELS, PRESET_NAMES, get_spec
from fastspike.spec import SpecError
from fastspike.training import checkpoint
from fastspike.training.config import RunConfig
from fastspike.training.devices import resolve_device

_ROOT_HELP = (
    "the folder that holds the dataset's folder (ROOT/MNIST/raw/*.gz, ROOT/FashionMNIST/raw, "
    "ROOT/KMNIST/raw, ROOT/EMNIST/raw, ROOT/cifar-10-batches-bin{}); --dataset folder: "
    "ROOT/train/<class>/<images> and ROOT/test/<class>/<images>"
)
_DATASETS = ["mnist", "fashion-mnist", "kmnist", "emnist", "cifar10", "folder"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fastspike")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Each default said once: none for an option without one (None, a flag) or whose help
    already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        none = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if none or "default" in text:  # (is: a default of 0 is a default, == False though it is)
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """A usage error is one line (what is wrong, and where the help is), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    fmt = _Help
    p = _Parser(
        prog="python -m fastspike",
        description="fastspike: STDP-trained spiking networks",
        formatter_class=fmt,
    )
    p.add_argument("--version", action="version", version=f"fastspike {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser(
        "train", help="train a registered network or one described in a config file", formatter_class=fmt
    )
    net = t.add_mutually_exclusive_group()
    net.add_argument(
        "--model",
        default=None,
        choices=sorted(MODELS) + sorted(ALIASES),
        help="a registered network (python -m fastspike models); mozafari2018 when neither --model "
        "nor --config is given",
    )
    net.add_argument("--config", default=None, help="a network described in a JSON or YAML file")
    t.add_argument("--dataset", default="mnist", choices=_DATASETS, help="training data")
    t.add_argument("--root", default="data", help=_ROOT_HELP.format("; downloaded if missing"))
    t.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        default=(28, 28),
        metavar=("H", "W"),
        help="--dataset folder: resize the images to H x W (default: 28 28)",
    )
    t.add_argument(
        "--preset",
        default="quick",
        choices=sorted(PRESET_NAMES),
        help="tiny: about a minute on 2 cores (try it first); quick: Mozafari 2018 with 50 R-STDP epochs; "
        "paper: the network's full schedule",
    )
    t.add_argument("--device", default=None, help="cpu or cuda (default: cuda when a GPU is usable)")
    t.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    t.add_argument("--batch-size", type=int, default=None, help="samples per batched update (default: 64)")
    t.add_argument(
        "--epochs",
        type=int,
        nargs="+",
        default=None,
        metavar="N",
        help="epochs of each phase, in order (0 = the preset's)",
    )
    t.add_argument("--epochs1", type=int, default=None, help="epochs of the first phase")
    t.add_argument("--epochs2", type=int, default=None, help="epochs of the second phase")
    t.add_argument("--epochs3", type=int, default=None, help="epochs of the third phase")
    t.add_argument(
        "--samples",
        type=int,
        nargs="+",
        default=None,
        metavar="N",
        help="training samples per epoch of each phase, in order (0 = all)",
    )
    t.add_argument(
        "--test-samples", type=int, default=None, help="evaluate on the first N test images (default: all)"
    )
    t.add_argument(
        "--validation",
        type=int,
        default=None,
        metavar="N",
        help="hold out the last N training images to choose the best epoch on (default: 10000 when a "
        "phase keeps its best epoch, else 0); the test set is evaluated once, at the end",
    )
    t.add_argument("--seed", type=int, default=0, help="initial weights")
    t.add_argument("--T", type=int, default=None, help="time steps (default: the network's)")
    t.add_argument("--checkpoint-dir", default=None, help="save last.pt, best.pt and metrics.json here")
    t.add_argument("--resume", action="store_true", help="continue from CHECKPOINT_DIR/last.pt")
    t.add_argument("--compat", action="store_true", help="reproduce the reference's quirks")
    t.add_argument("--cache-dir", default=None, help="cache the encoded dataset here")
    t.add_argument("--history", default=None, help="write the per-epoch history as JSON here")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.add_argument(
        "--tensorboard",
        action="store_true",
        help="also log curves, weight histograms, spike rates and S1 features to RUN/tensorboard",
    )

    e = sub.add_parser(
        "eval", help="evaluate a checkpoint (any network) on a test set: metrics", formatter_class=fmt
    )
    e.add_argument("--checkpoint", required=True, help="a best.pt or last.pt file")
    e.add_argument(
        "--dataset",
        default=None,
        choices=_DATASETS,
        help="default: the dataset the checkpoint was trained on",
    )
    e.add_argument("--root", default="data", help=_ROOT_HELP.format("; downloaded if missing"))
    e.add_argument("--device", default=None, help="cpu or cuda (default: cuda when a GPU is usable)")
    e.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    e.add_argument("--test-samples", type=int, default=None, help="the first N test images (default: all)")
    e.add_argument(
        "--out", default=None, help="metrics JSON (default: eval-DATASET.json beside the checkpoint)"
    )

    pl = sub.add_parser(
        "plot",
        help="PNGs of a checkpoint: S1/S2 features, spike maps and raster, weights, accuracy, confusion",
        formatter_class=fmt,
    )
    pl.add_argument("--checkpoint", required=True, help="a best.pt or last.pt file")
    pl.add_argument("--out", default=None, help="folder for the PNGs (default: plots/ beside the checkpoint)")
    pl.add_argument("--root", default="data", help=_ROOT_HELP.format("") + "; a test image is drawn from it")
    pl.add_argument("--image", type=int, default=0, help="index of the test image for the spike plots")

    sv = sub.add_parser("serve", help="web demo: draw a digit, watch the network answer", formatter_class=fmt)
    sv.add_argument(
        "--checkpoint", default=None, help="a checkpoint file (default: the shipped tiny Mozafari 2018)"
    )
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sv.add_argument("--port", type=int, default=8000, help="port")
    sv.add_argument("--device", default="cpu", help="cpu or cuda")

    m = sub.add_parser("models", help="list the registered networks", formatter_class=fmt)
    m.add_argument("--spec", default=None, metavar="NAME", help="print NAME's layer table and its JSON spec")
    return p


def _config(args) -> RunConfig:
    """The run configuration the train flags describe."""
    for flag, values in (("--samples", args.samples), ("--epochs", args.epochs)):
        if values is not None and any(n < 0 for n in values):
            raise ValueError(f"{flag}: expected numbers >= 0 (0 = the default), got {values}")
    if args.epochs is not None and any(v is not None for v in (args.epochs1, args.epochs2, args.epochs3)):
        raise ValueError("--epochs: give either --epochs or --epochs1/2/3, not both")
    return RunConfig(
        dataset=args.dataset,
        root=args.root,
        device=args.device,
        preset=args.preset,
        epochs=None if args.epochs is None else [n if n > 0 else None for n in args.epochs],
        samples=None if args.samples is None else [n if n > 0 else None for n in args.samples],
        test_samples=args.test_samples,
        validation=args.validation,
        batch_size=args.batch_size,
        seed=args.seed,
        T=args.T,
        checkpoint_dir=args.checkpoint_dir,
        resume=args.resume,
        progress=not args.no_progress,
        compat=args.compat,
        cache_dir=args.cache_dir,
        tensorboard=args.tensorboard,
        image_size=tuple(args.image_size),
    )


#: RunConfig field -> its flag, for errors that name what the user typed
_FLAGS = {
    "batch_size": "--batch-size",
    "cache_dir": "--cache-dir",
    "stop_after_epochs": "--stop-after-epochs",
}


def _train(args) -> int:
    t0 = time.perf_counter()
    spec = resolve_spec(args.config if args.config else (args.model or "mozafari2018"))
    family = family_of(spec)
    if args.checkpoint_dir is None and args.resume:
        raise ValueError("--resume: needs --checkpoint-dir (the run folder to resume)")
    given = [f for f in family.unused if f in vars(args) and vars(args)[f] not in (None, False)]
    if given:
        flags = ", ".join(_FLAGS.get(f, "--" + f.replace("_", "-")) for f in given)
        raise ValueError(f"{flags}: not used by {spec.name} ({type(family).__doc__.splitlines()[0]})")
    # under torchrun: join the process group; one device per rank
    world, args.device = distributed.init_from_env(args.device)
    main = world is None or world.is_main
    if args.checkpoint_dir is None:
        stamp = torch.tensor([int(time.time())], dtype=torch.int64)
        if world is not None:  # rank 0's clock names the run folder of every rank
            world.broadcast(stamp)
        name = time.strftime("%Y%m%d-%H%M%S", time.localtime(int(stamp)))
        args.checkpoint_dir = os.path.join("runs", f"{spec.name}-{name}")
    if args.history:  # fail now (on every rank), not after the whole run
        folder = os.path.dirname(os.path.abspath(args.history))
        if os.path.isdir(args.history) or not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise ValueError(f"--history: cannot write a file at {args.history!r}")
    cfg = _config(args)
    cfg = cfg.replace(epochs=phase_epochs(spec, cfg.epochs, args.epochs1, args.epochs2, args.epochs3))
    # the folders this run would make (the run folder, and runs/ above a default one)
    made = []
    folder = os.path.abspath(args.checkpoint_dir)
    while not os.path.exists(folder) and folder != os.path.dirname(folder):
        made.append(folder)
        folder = os.path.dirname(folder)

    def announce() -> None:  # once the data is loaded and the run folder made, not before
        if main:
            where = "" if world is None else f" ({world.size} ranks)"
            print(f"fastspike train: run folder {args.checkpoint_dir}{where}", flush=True)

    try:
        with usage.command_line(on_start=announce):
            net, history = train_mnist(model=spec, **vars(cfg))
    except BaseException:
        if main:  # a run that failed before its first epoch leaves no empty folders behind
            for d in made:
                if os.path.isdir(d) and not os.listdir(d):
                    os.rmdir(d)
        raise
    if main:
        _report(args, family, spec, net, history, t0)
    if world is not None:  # leave together: rank 0 writes last, then every rank lets go
        world.barrier()
        torch.distributed.destroy_process_group()
    return 0


def _report(args, family, spec, net, history, t0: float) -> None:
    if args.no_progress and net.test_metrics is not None:
        print(format_metrics(net.test_metrics))
    if args.history:
        with open(args.history, "w") as f:
            json.dump(history, f, indent=1)
    ran = f" preset={args.preset}" if family.name == "conv" else ""
    over = {
        "epochs": args.epochs,
        "epochs1": args.epochs1,
        "epochs2": args.epochs2,
        "epochs3": args.epochs3,
        "samples": args.samples,
        "batch_size": args.batch_size,
        "T": args.T,
        "validation": args.validation,
        "test_samples": args.test_samples,
    }
    over = {k: v for k, v in over.items() if v is not None}
    if over and family.name == "conv":
        ran += " with " + " ".join(f"{k}={v}" for k, v in over.items())
    result = "not finished (resume with --resume)" if net.test_metrics is None else family.summary(net)
    print(
        f"fastspike train: model={spec.name} dataset={args.dataset}{ran} "
        f"device={family.device_of(net)}: {result}; "
        f"wall time {time.perf_counter() - t0:.1f} s; run saved in {args.checkpoint_dir}"
    )


def _eval(args) -> int:
    t0 = time.perf_counter()
    if args.test_samples is not None and args.test_samples < 1:
        raise ValueError(f"--test-samples: expected a positive number, got {args.test_samples}")
    device = resolve_device(args.device)
    ckpt = checkpoint.load(args.checkpoint)
    family = family_of_checkpoint(ckpt, args.checkpoint)
    model = family.load(ckpt, args.checkpoint, device)
    trained_on = getattr(model, "dataset", None)
    dataset = args.dataset or trained_on or "mnist"
    if trained_on and dataset != trained_on:
        print(
            f"python -m fastspike eval: warning: {args.checkpoint} was trained on {trained_on}, "
            f"evaluating it on {dataset}",
            file=sys.stderr,
        )
    size = tuple(model.spec.input_size)
    _, test = load_dataset(dataset, args.root, image_size=size)
    if tuple(test.images.shape[-2:]) != size or len(test.classes) != model.n_classes:
        raise ValueError(
            f"--dataset: {dataset} has {test.images.shape[-2]}x{test.images.shape[-1]} images of "
            f"{len(test.classes)} classes; {args.checkpoint} takes {size[0]}x{size[1]} images of "
            f"{model.n_classes} classes"
        )
    test = test.subset(args.test_samples)
    metrics = family.evaluate(model, test.images, test.labels)
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), f"eval-{dataset}.json")
    with open(out, "w") as f:
        json.dump(
            {"checkpoint": args.checkpoint, "model": model.spec.name, "dataset": dataset, **metrics},
            f,
            indent=1,
        )
    print(format_metrics(metrics))
    print(
        f"fastspike eval: {args.checkpoint} ({model.spec.name}) on {dataset} ({len(test)} test images): "
        f"{family.describe_metrics(metrics)}; metrics in {out}; wall time {time.perf_counter() - t0:.1f} s"
    )
    return 0


def _plot(args) -> int:
    from fastspike import plots

    plots._require()  # matplotlib first: say how to install it before any work
    model = load_model(args.checkpoint)
    history = (checkpoint.load(args.checkpoint).get("progress") or {}).get("history") or None
    here = os.path.dirname(os.path.abspath(args.checkpoint))
    out = args.out or os.path.join(here, "plots")
    image = None
    dataset = getattr(model, "dataset", None) or "mnist"
    try:
        _, test = load_dataset(dataset, args.root, download=False, image_size=tuple(model.spec.input_size))
    except FileNotFoundError:
        print(f"python -m fastspike plot: note: no {dataset} under {args.root!r}; spike plots use a pattern")
    else:
        if not 0 <= args.image < len(test):
            raise ValueError(f"--image: expected 0..{len(test) - 1}, got {args.image}")
        image = test.images[args.image]
    matrix = None
    for name in ("metrics.json", f"eval-{dataset}.json"):
        path = os.path.join(here, name)
        if os.path.exists(path):
            with open(path) as f:
                matrix = json.load(f).get("confusion")
            break
    paths = plots.save_all(model, out, history=history, image=image, matrix=matrix)
    print(
        f"fastspike plot: wrote {len(paths)} images to {out}: "
        + ", ".join(os.path.basename(p) for p in paths)
    )
    return 0


def _models(args) -> int:
    if args.spec:
        spec = get_spec(args.spec)
        print(spec.table())
        print(spec.to_json())
        return 0
    width = max(len(n) for n in MODELS)
    for name, entry in MODELS.items():
        print(f"{name:{width}s}  {entry.summary}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with usage.command_line():
            return _command(args)
    except (SpecError, OSError, ValueError, ImportError) as err:  # OSError: FileNotFoundError, a full disk
        _error(args.command, err)
        return 2
    except DistributedError as err:
        _error(args.command, err)
        return 1
    except KeyboardInterrupt:
        folder = getattr(args, "checkpoint_dir", None)
        again = (
            f" (go on with --resume --checkpoint-dir {folder})"
            if args.command == "train" and folder and os.path.exists(os.path.join(folder, "last.pt"))
            else ""
        )
        print(f"python -m fastspike {args.command}: interrupted{again}", file=sys.stderr)
        return 130


def _error(command: str, err: BaseException) -> None:
    """One line on stderr: what is wrong (a message of several lines is joined)."""
    text = "; ".join(line.strip() for line in str(err).splitlines() if line.strip()) or type(err).__name__
    print(f"python -m fastspike {command}: error: {text}", file=sys.stderr)


def _command(args) -> int:
    """Run the subcommand ``args`` names."""
    threads = getattr(args, "threads", None)
    if threads is not None:
        if threads < 1:
            raise ValueError(f"--threads: expected a positive number, got {threads}")
        torch.set_num_threads(threads)
    if args.command == "train":
        return _train(args)
    if args.command == "eval":
        return _eval(args)
    if args.command == "plot":
        return _plot(args)
    if args.command == "serve":
        resolve_device(args.device)
        from fastspike.serve import serve

        serve(checkpoint=args.checkpoint, host=args.host, port=args.port, device=args.device)
        return 0
    return _models(args)


if __name__ == "__main__":
    sys.exit(main())
