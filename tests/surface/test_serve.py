"""The web demo (``fastspike.serve``): the JSON API through Flask's test client, the
shipped checkpoint, and the page itself in a real headless Chromium (skipped when
Chromium, chromedriver or Selenium are not installed)."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
import torch

pytest.importorskip("flask", reason="the web demo needs flask (pip install flask)")

from fastspike.api import load_model, predict_images  # noqa: E402
from fastspike.serve import create_app, pretrained_path, run_model  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def net():
    path = pretrained_path()
    assert os.path.isfile(path), f"the shipped checkpoint is missing: {path}"
    return load_model(path, "cpu")


@pytest.fixture(scope="module")
def app(net):
    app = create_app(net)
    app.config["TESTING"] = True
    return app


@pytest.fixture()
def client(app):
    return app.test_client()


def _expected_layers(net, image: torch.Tensor) -> list[tuple[str, tuple, torch.Tensor]]:
    """(name, shape [C, H, W], times [C, H, W]) of every map, computed directly."""
    T = net.T
    times = net.encoder(image)
    out = [("input", tuple(times.shape[1:]), times[0])]
    n = len(net.layer_names)
    for k in range(1, n + 1):
        x = net.layer_input(k, times)
        conv = net.spiking_layers[k - 1]
        t = conv(x, T, values=False)[0] if conv.threshold is not None else net.decide(x)[2]
        out.append((net.layer_names[k - 1], tuple(t.shape[1:]), t[0]))
    return out


# ----------------------------------------------------------------------------- HTTP API
def test_predict_matches_network(client, net, mnist):
    images = mnist[1].images[:8]
    T = net.T
    for img in images:
        pixels = img.flatten().tolist()
        r = client.post("/predict", json={"pixels": pixels})
        assert r.status_code == 200, r.get_data(as_text=True)
        body = r.get_json()
        expected = int(net(net.encoder(img.view(1, 28, 28)))[0])
        assert body["class"] == expected
        assert body["T"] == T
        scores = body["scores"]
        assert len(scores) == net.n_classes and all(isinstance(s, float) for s in scores)
        if expected >= 0:  # the winner fires at T-1 with the largest potential
            assert scores[expected] == max(scores) > 0
        else:
            assert max(scores) <= 0
        want = _expected_layers(net, img.view(1, 28, 28))
        assert [L["name"] for L in body["layers"]] == [w[0] for w in want]
        assert [L["name"] for L in body["layers"]][0] == "input"
        for L, (_, shape, t) in zip(body["layers"], want, strict=True):
            assert tuple(L["shape"]) == shape
            assert L["count"] == int((t < T).sum())
            first = t.amin(0)
            assert len(L["first_spike"]) == shape[1]
            for row, trow in zip(L["first_spike"], first.tolist(), strict=True):
                assert len(row) == shape[2]
                assert row == [None if v >= T else v for v in trow]


def test_predict_decision_scores_are_max_potentials(net, mnist):
    img = mnist[1].images[0].view(1, 28, 28)
    out = run_model(net, img)
    n = len(net.layer_names)
    x = net.layer_input(n, net.encoder(img))
    p = net.spiking_layers[-1](x, net.T, border=2)[1]
    per_class = p.shape[1] // net.n_classes
    want = [float(p[0, c * per_class : (c + 1) * per_class].max()) for c in range(net.n_classes)]
    assert out["scores"] == pytest.approx(want)


def test_predict_linear_readout_network(mnist):
    from fastspike.api import resolve_spec
    from fastspike.network import Network

    net = Network(resolve_spec("mozafari2018-linear"), seed=0)
    client = create_app(net).test_client()
    img = mnist[1].images[1]
    body = client.post("/predict", json={"pixels": img.flatten().tolist()}).get_json()
    assert body["class"] == -1  # readout not fitted yet
    assert [L["name"] for L in body["layers"]] == ["input", *net.layer_names, "output"]
    gen = torch.Generator().manual_seed(0)
    net.readout_weight.copy_(torch.randn(net.readout_weight.shape, generator=gen))
    net.readout_bias.copy_(torch.randn(net.readout_bias.shape, generator=gen))
    net.readout_fitted.fill_(True)
    body = client.post("/predict", json={"pixels": img.flatten().tolist()}).get_json()
    times = net.encoder(img.view(1, 28, 28))
    assert body["class"] == int(net(times)[0])
    feats = net.features(times)
    want = (feats.float() @ net.readout_weight.T + net.readout_bias)[0]
    assert body["scores"] == pytest.approx(want.tolist(), rel=1e-5, abs=1e-4)


def test_blank_image_is_silent_or_valid(client):
    r = client.post("/predict", json={"pixels": [0] * 784})
    assert r.status_code == 200
    body = r.get_json()
    assert -1 <= body["class"] <= 9
    assert body["layers"][0]["count"] >= 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": "not json", "content_type": "text/plain"},
        {"data": "{broken", "content_type": "application/json"},
        {"json": [1, 2, 3]},
        {"json": {"nothing": 1}},
        {"json": {"pixels": "abc"}},
        {"json": {"pixels": [0] * 783}},
        {"json": {"pixels": [0] * 785}},
        {"json": {"pixels": [0] * 783 + [300]}},
        {"json": {"pixels": [-1] + [0] * 783}},
        {"json": {"pixels": [1.5] + [0] * 783}},
        {"json": {"pixels": ["7"] + [0] * 783}},
        {"json": {"pixels": [None] + [0] * 783}},
        {"json": {"pixels": [True] + [0] * 783}},
        {"json": {"pixels": [[0]] * 784}},
    ],
    ids=[
        "text",
        "broken-json",
        "list",
        "no-pixels",
        "string",
        "783",
        "785",
        "300",
        "-1",
        "1.5",
        "str-values",
        "null",
        "bool",
        "nested",
    ],
)
def test_bad_requests_are_400_json(client, kwargs):
    r = client.post("/predict", **kwargs)
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.is_json and "error" in r.get_json()


def test_huge_body_is_413_json(client):
    body = json.dumps({"pixels": [0] * 784, "pad": "x" * 100_000})
    r = client.post("/predict", data=body, content_type="application/json")
    assert r.status_code == 413
    assert r.is_json and "error" in r.get_json()


def test_wrong_method_and_route_are_json(client):
    r = client.get("/predict")
    assert r.status_code == 405 and r.is_json
    r = client.get("/nope")
    assert r.status_code == 404 and r.is_json


def test_index_and_info(client, net):
    r = client.get("/")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    for ident in ('id="canvas"', 'id="clear"', 'id="prediction"', 'id="scores"', 'id="layers"'):
        assert ident in html
    assert "http://" not in html and "https://" not in html  # self-contained: works offline
    r = client.get("/info")
    assert r.status_code == 200
    info = r.get_json()
    assert info["model"] == net.name and info["T"] == net.T


def test_create_app_from_checkpoint_path_reports_accuracy():
    """The page's accuracy is the shipped checkpoint's TEST accuracy (stored in it by
    scripts/train_demo_checkpoint.py), not the validation accuracy its weights were chosen on."""
    app = create_app(pretrained_path())
    info = app.test_client().get("/info").get_json()
    assert info["model"] == "mozafari2018" and info["checkpoint"] == "mozafari2018-tiny.pt"
    # the figures of fastspike/pretrained/README.md
    assert info["accuracy"] == pytest.approx(0.8633, abs=5e-5) and info["test_images"] == 10000
    assert info["validation_accuracy"] == pytest.approx(0.8699, abs=5e-5)
    html = app.test_client().get("/").get_data(as_text=True)
    assert '", test accuracy " + pct(i.accuracy)' in html and '", validation accuracy "' in html


def test_shipped_checkpoint_accuracy(net, mnist):
    test = mnist[1]
    pred = predict_images(net, test.images[:500])
    acc = float((pred == test.labels[:500]).float().mean())
    assert acc >= 0.80, acc


# ----------------------------------------------------------------------------- browser
def _chrome():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip(f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER})")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(a)
    opts.add_argument("--window-size=1200,900")
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


@pytest.fixture()
def live_server(app):
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, app, threaded=True)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}/"
    finally:
        srv.shutdown()
        th.join(5)


def _strokes(image: torch.Tensor, level: int = 128) -> list[tuple[int, int, int]]:
    """Horizontal runs (row, first col, last col) of the image's bright pixels."""
    runs = []
    for y, row in enumerate((image > level).tolist()):
        x = 0
        while x < len(row):
            if row[x]:
                x0 = x
                while x + 1 < len(row) and row[x + 1]:
                    x += 1
                runs.append((y, x0, x))
            x += 1
    return runs


def test_browser_draw_and_predict(live_server, net, mnist):
    driver = _chrome()
    try:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        driver.set_page_load_timeout(30)
        driver.get(live_server)
        canvas = driver.find_element(By.ID, "canvas")
        size = driver.execute_script("return [arguments[0].clientWidth, arguments[0].clientHeight];", canvas)
        assert size == [280, 280]
        pred = driver.find_element(By.ID, "prediction")
        assert pred.text == ""
        # the page names its model and shows its test accuracy (held in the checkpoint)
        WebDriverWait(driver, 20).until(lambda d: "Model:" in d.find_element(By.ID, "info").text)
        info = driver.find_element(By.ID, "info").text
        acc = 100 * net.test_metrics["accuracy"]
        expected = (
            f"Model: {net.name}, trained on mnist, T = {net.T}, test accuracy {acc:.1f}% on "
            f"{net.test_metrics['n']:,} test images."
        )
        assert info.startswith(expected), info

        # trace a real MNIST "7" (the first test image) stroke by stroke, row by row
        image, label = mnist[1].images[0], int(mnist[1].labels[0])
        actions = ActionChains(driver, duration=0)
        for y, x0, x1 in _strokes(image):
            # offsets from the canvas centre; one MNIST pixel = 10 canvas pixels
            actions.move_to_element_with_offset(canvas, x0 * 10 + 5 - 140, y * 10 + 5 - 140)
            actions.click_and_hold()
            actions.move_by_offset((x1 - x0) * 10, 0)
            actions.release()
        actions.perform()

        def settled(d):
            return d.execute_script(
                "return window.lastResult !== null && "
                "document.getElementById('prediction').dataset.state === 'idle';"
            )

        WebDriverWait(driver, 20).until(settled)
        time.sleep(0.3)  # nothing else on its way
        WebDriverWait(driver, 20).until(settled)

        pixels = driver.execute_script("return window.lastPixels;")
        assert isinstance(pixels, list) and len(pixels) == 784
        assert all(isinstance(v, int) and 0 <= v <= 255 for v in pixels)
        assert sum(pixels) > 0
        img = torch.tensor(pixels, dtype=torch.uint8).view(1, 28, 28)
        # MNIST-like preprocessing: the digit fits in 20x20 around the centre
        ys, xs = torch.nonzero(img[0], as_tuple=True)
        assert int(ys.max() - ys.min()) < 21 and int(xs.max() - xs.min()) < 21
        expected = int(net(net.encoder(img))[0])
        text = driver.find_element(By.ID, "prediction").text.strip()
        assert text == ("silent" if expected < 0 else str(expected))
        # the page shows the scores and one heat map per layer
        assert len(driver.find_elements(By.CSS_SELECTOR, "#scores .bar")) == net.n_classes
        assert len(driver.find_elements(By.CSS_SELECTOR, "#layers canvas")) == len(net.layer_names) + 1
        print(f"browser: drew a {label}, the page says {text}")

        driver.find_element(By.ID, "clear").click()
        assert driver.find_element(By.ID, "prediction").text == ""
        assert driver.execute_script("return window.lastPixels;") is None
    finally:
        driver.quit()
