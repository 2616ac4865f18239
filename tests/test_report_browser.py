"""report.html of a real sweep, opened in a real browser: Debian's chromium, headless
(scripts/setup installs it). The page must load from file:// with no network and no
console messages, draw every figure, and list every trial with trials.csv's numbers."""

from __future__ import annotations

import html
import json
import math
import re
import shutil
import socket
import subprocess
import threading

import pandas as pd
import pytest
from typer.testing import CliRunner

from helpers import HOSTILE, SECTIONS, leaderboard_rows
from softmax_exp_cli.main import app

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # chromium

SPEC = """\
name: {name}
base: {{epochs: 3, train_subset: 2000, batch_size: 100}}
grid:
  lr: [0.02, 0.5, 3.0]
  weight_decay: [0.0, 0.001]
prune: {{method: median, warmup_epochs: 1, min_trials: 2}}
"""
# No network of its own (issue 19); software WebGL for the parallel coordinates, as a
# machine without a GPU has no other.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",
    "--hide-scrollbars",
]
# Chromium's own services, which it calls whatever the flags; a page never needs them.
BROWSER_HOSTS = re.compile(r"(^|\.)(google\.com|googleapis\.com|gstatic\.com|gvt1\.com)(:\d+)?$")


@pytest.fixture(scope="module")
def swept(tmp_path_factory, real_dataset):
    import json

    tmp = tmp_path_factory.mktemp("report")
    (tmp / "s.yaml").write_text(SPEC.format(name=json.dumps(HOSTILE)))
    result = CliRunner().invoke(
        app, ["sweep", str(tmp / "s.yaml"), "--out", str(tmp / "out"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    return tmp / "out"


class RequestRecorder:
    """A proxy that answers nothing and writes down every request the browser sends."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.requests: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                try:
                    line = connection.recv(4096).split(b"\r\n")[0].decode("latin-1")
                except OSError:
                    continue
                self.requests.append(line)

    def page_requests(self) -> list[str]:
        hosts = [(r, re.sub(r"^\w+ (\w+://)?([^/ ]+).*$", r"\2", r)) for r in self.requests]
        return [r for r, host in hosts if not BROWSER_HOSTS.search(host)]

    def close(self):
        self.server.close()


def chromium(url: str, profile, *args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium not found: run scripts/setup (apt-get install chromium)")
    return subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *args, url],
        capture_output=True,
        text=True,
        timeout=90,
    )


def load(page, profile) -> tuple[str, str, list[str]]:
    """The DOM after the page's scripts ran, and what the browser logged and requested."""
    recorder = RequestRecorder()
    try:
        done = chromium(
            page.as_uri(),
            profile,
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            f"--proxy-server=127.0.0.1:{recorder.port}",
            "--proxy-bypass-list=<-loopback>",
            "--dump-dom",
        )
    finally:
        recorder.close()
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr, recorder.page_requests()


@pytest.fixture(scope="module")
def loaded(swept, tmp_path_factory):
    return load(swept / "report.html", tmp_path_factory.mktemp("profile"))


def test_the_checks_see_what_a_page_fetches_and_logs(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        '<html><body><img src="http://example.invalid/x.png">'
        '<script>console.error("oops")</script></body></html>'
    )
    _, log, requests = load(page, tmp_path / "profile")
    assert any("example.invalid/x.png" in r for r in requests)
    assert any(":CONSOLE" in line and "oops" in line for line in log.splitlines())


def test_page_loads_offline_without_console_messages(loaded):
    dom, log, requests = loaded
    assert "<html" in dom[:100] and "</html>" in dom
    assert requests == []
    console = [
        line for line in log.splitlines() if ":CONSOLE" in line and '"[.WebGL-' not in line
    ]  # software GL's performance notices
    assert console == []


def test_every_section_and_every_figure_is_drawn(loaded):
    dom, _, _ = loaded
    for anchor in SECTIONS:
        assert f'id="{anchor}"' in dom, anchor
    plots = re.split(r'<div class="plot[^"]*" id="figure-\d+">', dom)[1:]
    assert len(plots) == 6  # curves, parallel, slices, importance, test curves, per class
    for plot in plots:
        assert 'class="main-svg"' in plot[:2000]
    assert dom.count('class="js-line"') >= 6 * 6  # 6 trials' lines in the curve panels
    assert "<canvas" in dom  # parallel coordinates draw with WebGL
    assert re.search(r'<path class="js-line" d="M[\d.]+,[\d.]+L', dom)


def test_leaderboard_has_every_trial_with_the_numbers_of_trials_csv(loaded, swept):
    dom, _, _ = loaded
    trials = pd.read_csv(swept / "trials.csv")
    rows = {row[1]: row for row in leaderboard_rows(dom)}
    assert set(rows) == set(trials.trial_id) and len(rows) == 6
    assert {"completed", "pruned"} <= set(trials.status)
    for trial in trials.itertuples():
        row = rows[trial.trial_id]
        assert row[2] == trial.status
        assert f"{trial.best_val_acc:.4f}" in row and f"{trial.test_acc_at_best:.4f}" in row
        assert row[-2] == str(trial.epochs_run)


CLICK = """<script>
var th = Array.prototype.find.call(document.querySelectorAll('th'), function (h) {
  return h.textContent === 'best val_acc'; });
th.click();
var rows = document.querySelectorAll('#leaderboard-table tbody tr');
document.body.dataset.sorted = Array.prototype.map.call(rows, function (r) {
  return r.cells[1].textContent; }).join(',');
</script></body>"""


def test_a_click_sorts_the_leaderboard(swept, tmp_path):
    page = tmp_path / "clicked.html"  # the report, plus a click on a column header
    page.write_text((swept / "report.html").read_text().replace("</body>", CLICK))
    dom, _, _ = load(page, tmp_path / "profile")
    order = re.search(r'data-sorted="([^"]*)"', dom).group(1).split(",")
    trials = pd.read_csv(swept / "trials.csv").sort_values("best_val_acc", kind="stable")
    assert order == list(trials.trial_id)  # ascending, where the page opens descending


def test_sweep_name_shows_as_text(loaded):
    dom, _, _ = loaded
    assert "<title>softmax-exp report: a&lt;/script&gt;&lt;script&gt;document.title=" in dom
    assert "pwned</title>" not in dom and "<b>" not in dom


def test_screenshot_is_not_blank(swept, tmp_path):
    import matplotlib.image

    shot = tmp_path / "shot.png"
    done = chromium(
        (swept / "report.html").as_uri(),
        tmp_path / "profile",
        "--window-size=1280,800",
        "--virtual-time-budget=10000",
        f"--screenshot={shot}",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (800, 1280)
    assert (
        pixels.std() > 0.05
        and len({tuple(p) for p in pixels[::8, ::8, :3].reshape(-1, 3).tolist()}) > 50
    )


def test_optuna_export_of_a_real_sweep_matches_trials_csv(swept):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    result = CliRunner().invoke(app, ["export", str(swept), "--optuna"])
    assert result.exit_code == 0, result.output
    storage = JournalStorage(JournalFileBackend(str(swept / "optuna-study.journal")))
    study = optuna.load_study(study_name=HOSTILE, storage=storage)
    trials = pd.read_csv(swept / "trials.csv")
    epochs = pd.read_csv(swept / "epochs.csv")
    for frozen, row in zip(study.trials, trials.itertuples(), strict=True):
        assert frozen.state.name == {"completed": "COMPLETE", "pruned": "PRUNED"}[row.status]
        assert frozen.params == {"lr": row.lr, "weight_decay": row.weight_decay}
        assert frozen.value == (
            pytest.approx(row.best_val_acc) if row.status == "completed" else None
        )
        curve = epochs[epochs.trial_id == row.trial_id]
        assert frozen.intermediate_values == pytest.approx(dict(zip(curve.epoch, curve.val_acc)))
        assert len(frozen.intermediate_values) == row.epochs_run
    assert not math.isnan(study.best_value)


def test_no_report_leaves_no_page(tmp_path, real_dataset):
    (tmp_path / "s.yaml").write_text(
        "base: {epochs: 1, train_subset: 500, batch_size: 100}\ngrid: {lr: [0.1]}\n"
    )
    result = CliRunner().invoke(
        app,
        [
            "sweep",
            str(tmp_path / "s.yaml"),
            "--out",
            str(tmp_path / "out"),
            "--quiet",
            "--no-report",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "trials.csv").is_file()
    assert not (tmp_path / "out" / "report.html").exists()


TWELVE = """\
base: {epochs: 2, train_subset: 1000, batch_size: 100}
grid:
  lr: [0.01, 0.1, 0.3, 1.0]
  weight_decay: [0.0, 0.001, 0.01]
"""
# What a reader sees, measured in the page once plotly has drawn it (issue 26).
MEASURE = """<script>
function after(id) {
  var node = document.getElementById(id);
  while (node && !(node.classList && node.classList.contains('plot'))) {
    node = node.nextElementSibling;
  }
  return node;
}
setTimeout(function () {
  var curves = after('curves').querySelectorAll('.subplot.xy .js-line');
  var styles = Array.prototype.map.call(curves, function (l) {
    return l.style.stroke + ' ' + (l.style.strokeDasharray || 'solid'); });
  var importance = after('importance');
  var bars = importance.querySelector('.bars').getBoundingClientRect().left;
  var gaps = Array.prototype.map.call(importance.querySelectorAll('.ytick text'), function (t) {
    return bars - t.getBoundingClientRect().right; });
  var axes = Array.prototype.map.call(after('parallel').querySelectorAll('g.y-axis'), function (a) {
    return Array.prototype.map.call(a.querySelectorAll('text'), function (t) {
      return t.textContent; }); });
  document.body.dataset.measured = JSON.stringify({styles: styles, gaps: gaps, axes: axes});
}, 3000);
</script></body>"""


@pytest.fixture(scope="module")
def twelve(tmp_path_factory, real_dataset):
    tmp = tmp_path_factory.mktemp("twelve")
    (tmp / "grid.yaml").write_text(TWELVE)
    result = CliRunner().invoke(
        app, ["sweep", str(tmp / "grid.yaml"), "--out", str(tmp / "out"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    page = tmp / "measured.html"
    page.write_text((tmp / "out" / "report.html").read_text().replace("</body>", MEASURE))
    dom, _, _ = load(page, tmp / "profile")
    return dom, json.loads(html.unescape(re.search(r'data-measured="([^"]*)"', dom).group(1)))


def test_twelve_trials_have_twelve_line_styles_told_apart_at_a_glance(twelve):
    """Past ten trials the dash changes, as in `softmax plot`: two lines drawn alike
    need colours far apart, not two blues (issue 26)."""
    _, measured = twelve
    styles = [re.match(r"rgb\((\d+), (\d+), (\d+)\) (.*)", s).groups() for s in measured["styles"]]
    assert len(styles) == 12 and len(set(styles)) == 12, styles
    for i, a in enumerate(styles):
        for b in styles[i + 1 :]:
            if a[3] == b[3]:  # the same dash
                distance = math.dist([int(v) for v in a[:3]], [int(v) for v in b[:3]])
                assert distance > 60, (a, b)


def test_the_importance_chart_names_stand_clear_of_their_bars(twelve):
    _, measured = twelve
    assert len(measured["gaps"]) == 2 and min(measured["gaps"]) >= 3, measured["gaps"]


def test_the_metric_axis_writes_every_number_alike(twelve):
    _, measured = twelve
    numbers = [t for t in measured["axes"][-1] if re.fullmatch(r"[\d.]+", t)]
    assert len(numbers) >= 4 and all(re.fullmatch(r"0\.\d{4}", t) for t in numbers), numbers


def test_settings_read_as_the_config_holds_them(twelve):
    dom, _ = twelve
    board = leaderboard_rows(dom)
    assert len(board) == 12
    assert {row[3] for row in board} == {"0.01", "0.1", "0.3", "1.0"}  # lr 1.0, not 1
    cards = re.findall(r"<td>settings</td><td>([^<]*)</td>", dom)
    assert len(cards) == 12, cards[:1]
    for card in cards:
        assert "lr_schedule=constant" in card
        for unused in ("lr_step_epochs", "lr_step_factor", "lr_min", "min_delta"):
            assert unused not in card, card
