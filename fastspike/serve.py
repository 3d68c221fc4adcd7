"""A small web demo: draw a digit, watch the spiking network answer.

``python -m fastspike serve`` (or :func:`serve`) starts a Flask app with one page
(``fastspike/static/index.html``, self-contained, works offline) and a JSON API:

- ``POST /predict`` ``{"pixels": [784 ints 0..255]}`` (row-major 28x28, a white digit on
  black as in MNIST) -> ``{"class", "scores", "layers", "T"}``;
- ``GET /info`` -> the model's name, checkpoint file, dataset, T and (when the checkpoint
  holds them) its test accuracy (``accuracy``, on ``test_images`` test images) and the
  validation accuracy its weights were chosen on (``validation_accuracy``).

Flask is an optional dependency (``pip install flask``, or the ``demo`` extra); only this
module needs it.
"""

from __future__ import annotations

import os
import threading
from importlib import resources
from typing import Any

import torch

from fastspike.usage import needs

try:
    from flask import Flask, jsonify, request, send_from_directory
    from werkzeug.exceptions import HTTPException
except ImportError as _err:  # an optional dependency: say how to install it
    raise ImportError(needs("the web demo needs", "flask", "demo")) from _err

from fastspike.families import family_of_checkpoint
from fastspike.network import Network
from fastspike.training.checkpoint import load as load_checkpoint

SIDE = 28
N_PIXELS = SIDE * SIDE
MAX_BODY = 64 * 1024
PRETRAINED = "mozafari2018-tiny.pt"
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


def pretrained_path(name: str = PRETRAINED) -> str:
    """Path of a checkpoint shipped in ``fastspike/pretrained/``."""
    path = resources.files("fastspike").joinpath("pretrained", name)
    return str(path)


class BadRequest(ValueError):
    """A request the API refuses (answered 400 with the message)."""


def parse_pixels(payload: Any) -> torch.Tensor:
    """The JSON body of ``/predict`` -> uint8 image ``[1, 28, 28]``, or :class:`BadRequest`."""
    if not isinstance(payload, dict):
        raise BadRequest('expected a JSON object {"pixels": [784 ints 0..255]}')
    pixels = payload.get("pixels")
    if not isinstance(pixels, list):
        raise BadRequest('"pixels": expected a list of 784 ints 0..255')
    if len(pixels) != N_PIXELS:
        raise BadRequest(f'"pixels": expected {N_PIXELS} values (28x28, row-major), got {len(pixels)}')
    for i, v in enumerate(pixels):
        # bool is an int subclass: refuse true/false too
        if isinstance(v, bool) or not isinstance(v, int):
            raise BadRequest(f'"pixels"[{i}]: expected an int 0..255, got {v!r}')
        if not 0 <= v <= 255:
            raise BadRequest(f'"pixels"[{i}]: expected 0..255, got {v}')
    return torch.tensor(pixels, dtype=torch.uint8).view(1, SIDE, SIDE)


def _layer_entry(name: str, times: torch.Tensor, T: int) -> dict:
    """First-spike summary of one map ``[1, C, H, W]``: the earliest time over channels
    per position (``None`` = never) and how many neurons fired."""
    t = times[0]
    fired = t < T
    first = t.amin(0).to(torch.int64)
    rows = [[None if v >= T else v for v in row] for row in first.cpu().tolist()]
    return {"name": name, "shape": list(t.shape), "first_spike": rows, "count": int(fired.sum())}


@torch.no_grad()
def run_model(net: Network, image: torch.Tensor) -> dict:
    """Classify one uint8 image ``[1, 28, 28]`` and describe every layer's first spikes."""
    T = net.T
    dev = next(net.buffers()).device
    times = net.encoder(image.to(dev))
    outputs = net.layer_outputs(times)  # every conv's map, in one pass
    layers = [_layer_entry("input", times, T)]
    layers += [_layer_entry(name, t, T) for name, (t, _) in zip(net.layer_names, outputs, strict=True)]
    if net.is_vote:  # heads voting: the score of a class is its number of votes
        _, _, _, votes = net.decide_heads(net.layer_input(len(net.layer_names), times))
        classes = net(times)
        scores = torch.stack([(votes[0] == c).sum() for c in range(net.n_classes)]).float()
    elif net.is_decision:
        out_times, potentials = outputs[-1]  # P[T-1] of the decision neurons
        classes, _ = net.decide_from(out_times, potentials)
        per_class = net.spiking_layers[-1].out_channels // net.n_classes
        scores = potentials[0].reshape(net.n_classes, per_class, -1).amax(dim=(1, 2))
    else:
        out_map = net.output_map(times)
        feats = net.features_of(out_map)
        layers.append(_layer_entry("output", out_map, T))
        scores = (feats.float() @ net.readout_weight.T.float() + net.readout_bias.float())[0]
        if bool(net.readout_fitted):
            classes = net.classify_features(feats)
        else:  # an untrained readout answers nothing
            classes = torch.full((1,), -1, dtype=torch.int64)
    return {
        "class": int(classes[0]),
        "scores": [float(s) for s in scores.cpu()],
        "layers": layers,
        "T": int(T),
    }


def _json_error(status: int, message: str):
    resp = jsonify({"error": message, "status": status})
    resp.status_code = status
    return resp


def create_app(model: Network | str, device: str | torch.device = "cpu", info: dict | None = None) -> Flask:
    """The Flask app serving ``model`` (a :class:`~fastspike.network.Network` or a checkpoint path).

    ``info``: extra fields for ``GET /info`` (e.g. ``{"accuracy": 0.855}``, a test accuracy).
    A network's own test metrics (``test_metrics``, which :func:`~fastspike.api.load_model`
    reads from a checkpoint that holds them) give ``accuracy`` and ``test_images``.
    """
    if isinstance(model, (str, os.PathLike)):
        net, extra = _load(str(model), device)
        info = {**extra, **(info or {})}
    else:
        net = model.to(device)
    net.eval()
    lock = threading.Lock()
    meta = {
        "model": net.name,
        "checkpoint": None,
        "dataset": getattr(net, "dataset", None),
        "T": int(net.T),
        "classes": int(net.n_classes),
        "decision": bool(net.is_decision),
        "layers": ["input", *net.layer_names],
        **_test_accuracy(net),
        "validation_accuracy": None,
        **(info or {}),
    }

    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["fastspike_model"] = net

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        return _json_error(err.code or 500, err.description or err.name)

    @app.errorhandler(Exception)
    def _internal_error(err: Exception):  # pragma: no cover - a bug, but still JSON
        app.logger.exception("unhandled error")
        return _json_error(500, f"internal error: {type(err).__name__}")

    @app.get("/")
    def index():
        return send_from_directory(STATIC_DIR, "index.html", max_age=0)

    @app.get("/static/<path:name>")
    def static_file(name: str):
        return send_from_directory(STATIC_DIR, name)

    @app.get("/info")
    def get_info():
        return jsonify(meta)

    @app.post("/predict")
    def predict():
        payload = request.get_json(silent=True)
        if payload is None:
            return _json_error(400, 'expected a JSON body {"pixels": [784 ints 0..255]}')
        try:
            image = parse_pixels(payload)
        except BadRequest as err:
            return _json_error(400, str(err))
        with lock:
            out = run_model(net, image)
        return jsonify(out)

    return app


def _test_accuracy(net) -> dict:
    """``accuracy`` and ``test_images`` from a network's test metrics (both None if unknown)."""
    m = getattr(net, "test_metrics", None) or {}
    acc, n = m.get("accuracy"), m.get("n")
    known = isinstance(acc, (int, float)) and not isinstance(acc, bool)
    return {"accuracy": float(acc) if known else None, "test_images": int(n) if known and n else None}


def _load(checkpoint: str, device: str | torch.device) -> tuple[Network, dict]:
    """Load a checkpoint -> ``(network, info)``: its file name, the test accuracy it holds
    (``None`` when it holds none) and the validation accuracy its weights were chosen on."""
    ckpt = load_checkpoint(checkpoint)
    net = family_of_checkpoint(ckpt, checkpoint).load(ckpt, checkpoint, device)
    info: dict = {"checkpoint": os.path.basename(checkpoint), **_test_accuracy(net)}
    val = (ckpt.get("progress") or {}).get("best_accuracy")
    if isinstance(val, (int, float)) and val >= 0:
        info["validation_accuracy"] = float(val)
    return net, info


def serve(
    checkpoint: str | None = None, host: str = "127.0.0.1", port: int = 8000, device: str = "cpu"
) -> None:
    """Serve the demo page for ``checkpoint`` (default: the shipped tiny Mozafari 2018)."""
    path = checkpoint or pretrained_path()
    app = create_app(path, device)
    print(f"fastspike: serving {os.path.basename(path)} on http://{host}:{port}/ (Ctrl+C to stop)")
    app.run(host=host, port=port, threaded=True, use_reloader=False, debug=False)
