"""The HTML report: every input kind renders charts, and the page loads in headless Chromium with
no console errors, every chart present and non-empty, and a screenshot in the output folder."""

import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

import epscope

REFERENCE_RECORDS = os.path.join(os.path.dirname(__file__), "data", "ll_h200x2.records.jsonl")

# Injected into a copy of the page: records errors, then writes what each chart holds into the
# DOM, which --dump-dom prints.
CHECK_SCRIPT = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message)));
const origError = console.error;
console.error = (...a) => { window.__errors.push(a.join(' ')); origError(...a); };
window.addEventListener('load', () => {
  const charts = [...document.querySelectorAll('svg.chart')].map(svg => {
    const marks = [...svg.querySelectorAll('.bar, .line, .point')];
    const visible = marks.filter(m => { const b = m.getBBox(); return b.width > 0 || b.height > 0; });
    const box = svg.getBoundingClientRect();
    return {id: svg.dataset.chart, marks: marks.length, visible: visible.length,
            width: box.width, height: box.height};
  });
  const pre = document.createElement('pre');
  pre.id = 'epscope-check';
  pre.textContent = JSON.stringify({charts, errors: window.__errors});
  document.body.appendChild(pre);
});
</script>"""

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(args):
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([chromium()] + CHROMIUM_FLAGS + [f"--user-data-dir={profile}"] + args,
                              capture_output=True, text=True, timeout=120)


def check_in_chromium(html_path, output_dir):
    """Loads the page twice: once with the check script (DOM dump), once for the screenshot."""
    checked = output_dir / "report.checked.html"
    page = html_path.read_text()
    checked.write_text(page.replace("</head>", CHECK_SCRIPT + "\n</head>", 1))
    dom = run_chromium(["--dump-dom", f"file://{checked}"])
    found = re.search(r'<pre id="epscope-check">(.*?)</pre>', dom.stdout, re.S)
    assert found, f"the check script did not run: {dom.stderr[-2000:]}"
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    # Console messages of the page itself (not Chromium's own startup noise) show up as CONSOLE.
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    screenshot = output_dir / "report.png"
    shot = run_chromium([f"--screenshot={screenshot}", "--window-size=1100,2400",
                         f"file://{html_path}"])
    assert screenshot.exists() and screenshot.stat().st_size > 10000, shot.stderr[-2000:]
    return result, console


@pytest.fixture
def inputs(tmp_path):
    s = epscope.Scenario()
    sweep = epscope.sweep(s, {"tokens": [32, 64, 128, 256, 512], "nvlink": [True, False]})
    pareto = {"pareto": [
        {"lambda": 0.0, "step_us": 980.0, "batch_balance": 0.95, "kv_balance": 0.60},
        {"lambda": 0.5, "step_us": 910.0, "batch_balance": 0.85, "kv_balance": 0.80},
        {"lambda": 1.0, "step_us": 940.0, "batch_balance": 0.70, "kv_balance": 0.93},
        {"lambda": 0.7, "step_us": 990.0, "batch_balance": 0.65, "kv_balance": 0.75}]}
    paths = {"estimate": tmp_path / "estimate.json", "sweep": tmp_path / "sweep.json",
             "plan": tmp_path / "plan.json"}
    paths["estimate"].write_text(json.dumps(epscope.compare_balanced(s).to_dict()))
    paths["sweep"].write_text(json.dumps(sweep))
    paths["plan"].write_text(json.dumps(pareto))
    return paths


def test_report_has_every_chart(inputs):
    html = epscope.report_html([str(inputs["estimate"]), str(inputs["sweep"]),
                                REFERENCE_RECORDS, str(inputs["plan"])], title="test report")
    charts = re.findall(r'<svg class="chart" data-chart="([^"]+)"', html)
    assert charts == ["rank-time", "rank-bytes", "balanced-vs-unbalanced", "balanced-per-rank",
                      "sweep-latency", "predicted-vs-measured", "pareto-front", "pareto-step"]
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")  # nothing to fetch
    assert "<script" not in html
    assert "RDMA only" in html and "NVLink" in html  # the sweep's series are named
    # Pareto: (0.65, 0.75) is dominated by (0.85, 0.80); the other three form the front.
    front = html[html.index('data-chart="pareto-front"'):html.index('data-chart="pareto-step"')]
    assert front.count("Pareto front (") == 3


def test_report_rejects_unknown_input(tmp_path):
    f = tmp_path / "x.json"
    f.write_text('{"hello": 1}')
    with pytest.raises(epscope.InputError, match="not an estimate"):
        epscope.report_html([str(f)])


def test_report_in_headless_chromium(inputs, output_dir, cli):
    if chromium() is None:
        pytest.skip("SKIPPED: chromium is not installed (apt-get install chromium); "
                    "the report was not checked in a browser")
    html_path = output_dir / "report.html"
    subprocess.run([cli, "report", str(inputs["estimate"]), str(inputs["sweep"]),
                    REFERENCE_RECORDS, str(inputs["plan"]), "-o", str(html_path)], check=True,
                   capture_output=True)
    result, console = check_in_chromium(html_path, output_dir)
    assert result["errors"] == [] and console == [], (result["errors"], console)
    assert len(result["charts"]) == 8
    for chart in result["charts"]:
        assert chart["visible"] > 0, chart  # present and non-empty
        assert chart["width"] > 300 and chart["height"] > 100, chart
