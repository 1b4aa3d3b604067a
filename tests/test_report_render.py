"""The report pages render in a browser: headless Chromium (Debian's `chromium` package; .ci/run
installs it when missing) loads the prep job's report.html and the run report, and every image
has a size and no script or resource error is reported. Screenshots are written next to the
pages (the test's tmp folder) for a person to look at.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess

import pytest

# Injected first in <head>: records script errors, failed resources (capture phase) and
# console.error calls, then, once the page has loaded, every image's natural size.
CHECK = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  window.__errors.push(t && t.tagName ? 'failed to load ' + t.tagName + ' ' +
                       String(t.src || t.href || '').slice(0, 80) : String(e.message));
}, true);
var __consoleError = console.error;
console.error = function () {
  window.__errors.push(Array.prototype.join.call(arguments, ' '));
  __consoleError.apply(console, arguments);
};
window.addEventListener('load', function () {
  var images = Array.prototype.map.call(document.images, function (i) {
    return [i.naturalWidth, i.naturalHeight, i.alt || i.src.slice(0, 40)];
  });
  var pre = document.createElement('pre');
  pre.id = 'render-check';
  pre.textContent = JSON.stringify({errors: window.__errors, images: images});
  document.body.appendChild(pre);
});
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run installs "
                    "it when it can)")
    return found


def render_check(page: str, work: str) -> dict:
    """Loads `page` (a copy with CHECK injected) in headless Chromium: {"errors", "images"};
    also writes a full-page screenshot of the original page next to it."""
    browser = chromium()
    with open(page, encoding="utf-8") as f:
        text = f.read()
    checked = os.path.join(work, "checked-" + os.path.basename(page))
    with open(checked, "w", encoding="utf-8") as f:
        f.write(re.sub(r"<head>", "<head>" + CHECK, text, count=1))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--virtual-time-budget=15000", f"--user-data-dir={os.path.join(work, 'profile')}"]
    dom = subprocess.run([browser, *flags, "--dump-dom", f"file://{checked}"],
                         capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    match = re.search(r'<pre id="render-check">(.*?)</pre>', dom.stdout, re.S)
    assert match, f"{page}: the page never finished loading\n{dom.stderr[-2000:]}"
    shot = os.path.splitext(page)[0] + ".png"
    subprocess.run([browser, *flags, "--window-size=1300,12000", f"--screenshot={shot}",
                    f"file://{os.path.abspath(page)}"], capture_output=True, timeout=180)
    return json.loads(html.unescape(match.group(1)))


def _assert_renders(page: str, work: str, min_images: int) -> None:
    result = render_check(page, work)
    assert not result["errors"], f"{page}: {result['errors']}"
    assert len(result["images"]) >= min_images, result["images"]
    empty = [alt for width, height, alt in result["images"] if not (width > 0 and height > 0)]
    assert not empty, f"{page}: images without a size: {empty}"


def test_the_check_catches_a_broken_image(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<!doctype html><html><head></head><body><img src="nothing.png">'
                    "</body></html>", encoding="utf-8")
    result = render_check(str(page), str(tmp_path))
    assert result["images"][0][:2] == [0, 0] and "failed to load IMG" in result["errors"][0]


@pytest.mark.slow
def test_prep_report_and_run_report_render(demo, tmp_path):
    """The prep report of the demo corpus (dedup, quality classifier and decontamination on)
    and a run report over it with training curves and a delivered mixture."""
    from launch import run_report
    from pipeline import report as prep_report

    with open(os.path.join(demo["prep"], "report.json"), encoding="utf-8") as f:
        summary = json.load(f)
    prep_page = tmp_path / "prep_report.html"
    prep_page.write_text(prep_report.render_html(summary), encoding="utf-8")
    _assert_renders(str(prep_page), str(tmp_path), min_images=3)

    model_dir = tmp_path / "run"
    model_dir.mkdir()
    lines = [{"kind": "train", "step": s, "loss": 8.0 - s / 10, "accuracy": s / 100,
              "weight_sum": 2048, "timing/mfu": 0.05, "timing/seqs_per_second": 3.0,
              "timing/target_tokens_per_second": 768.0}
             for s in range(1, 41)]
    lines += [{"kind": "eval", "step": s, "training_eval/overall/loss": 7.5 - s / 10,
               "training_eval/palm_demo.books/loss": 7.6 - s / 10,
               "training_eval/palm_demo.code/loss": 7.4 - s / 10} for s in (10, 20, 30, 40)]
    (model_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines),
                                             encoding="utf-8")
    mixture = {"weights": {"palm_demo.books": 0.4, "palm_demo.code": 0.6},
               "delivered": {"palm_demo.books": 30_000, "palm_demo.code": 51_000}}
    run_page = tmp_path / "run_report.html"
    run_page.write_text(run_report.render(prep_dir=demo["prep"], model_dir=str(model_dir),
                                          samples_path=None, mixture=mixture), encoding="utf-8")
    _assert_renders(str(run_page), str(tmp_path), min_images=5)
