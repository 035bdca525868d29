"""The HTML project report (fpgaq.report, fpgaq report DIR) and the one-command demo that writes it."""

from __future__ import annotations

import base64
import binascii
import html.parser
import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image  # a dependency of matplotlib, so always there

from fpgaq.cli import main
from fpgaq.report import SECTIONS, ReportError, graph_to_dict, render_report, write_report


# ----------------------------------------------------------------------------- reading the page back
class _Page(html.parser.HTMLParser):
    """Sections by id (their text and whether they say something is missing), images, and outside references."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict[str, Any]] = {}
        self.images: list[dict[str, str]] = []
        self.external: list[str] = []
        self.tags: set[str] = set()
        self._current: str | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.add(tag)
        if tag == "section":
            self._current = a.get("id", "")
            self.sections[self._current] = {"text": "", "missing": False, "images": 0}
        if self._current and "missing" in a.get("class", "").split():
            self.sections[self._current]["missing"] = True
        if tag == "img":
            self.images.append({"src": a.get("src", ""), "id": a.get("id", ""), "section": self._current or ""})
            if self._current:
                self.sections[self._current]["images"] += 1
        for key in ("src", "href"):
            value = a.get(key, "")
            if value and not value.startswith(("data:", "#")):
                self.external.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._current:
            self.sections[self._current]["text"] += data


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def _decode_png(src: str) -> tuple[int, int]:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:40]
    raw = base64.b64decode(src[len(prefix) :], validate=True)
    image = Image.open(io.BytesIO(raw))
    image.load()  # decodes every pixel: a truncated or corrupt PNG raises here
    assert image.format == "PNG"
    return image.size


# ----------------------------------------------------------------------------- a synthetic project
@pytest.fixture(scope="module")
def design_and_model() -> tuple[Any, Any]:
    import fpgaq
    from fpgaq.demo import small_jet_tagger

    model = small_jet_tagger()
    return fpgaq.convert(model), model


# Synthesized counts the test chooses, so the table can be checked against them.
_SYNTH_LAYERS = {
    "fc1": {"luts": 2345, "ffs": 91, "dsp": 0},
    "fc2": {"luts": 1111, "ffs": 47, "dsp": 0},
    "output": {"luts": 432, "ffs": 60, "dsp": 0},
    "softmax": {"luts": 1500, "ffs": 50, "dsp": 5},
}


def _make_project(root: Path, design: Any, model: Any, sweep: bool = True) -> Path:
    from fpgaq.qstats import qstats
    from fpgaq.qtools import QTools
    from fpgaq.sweep import sweep as run_sweep

    root.mkdir(parents=True, exist_ok=True)
    meta = {
        "schema": "fpgaq-project/1",
        "name": design.name,
        "model": f"{design.name}: 16 -> 16 -> 8 -> 5",
        "mode": "test",
        "device": "xc7a100t",
        "training": {"epochs": 0, "quantized_accuracy": 0.25},
        "seconds": {"train": 1.5},
        "files": {"synth": "rtl/synth/xc7.json"},
    }
    (root / "project.json").write_text(json.dumps(meta))
    (root / "graph.json").write_text(json.dumps(graph_to_dict(design.graph)))
    (root / "estimate.json").write_text(json.dumps(design.estimate(device="xc7a100t").to_dict()))
    (root / "qstats.json").write_text(json.dumps(qstats(model)))
    qt = QTools(model)
    energy = qt.pe()
    data = qt.stats | {"energy": {"layers": qt.extract_energy_profile(energy), "energy_sum": 123.0}}
    (root / "qtools.json").write_text(json.dumps(data))
    synth = {
        "device": "xc7",
        "yosys": "Yosys 0.23 (test)",
        "luts": sum(v["luts"] for v in _SYNTH_LAYERS.values()) + 7,
        "ffs": 400,
        "dsp": 5,
        "layers": _SYNTH_LAYERS,
        "layers_unassigned": {"luts": 7, "ffs": 152, "dsp": 0},
    }
    (root / "rtl" / "synth").mkdir(parents=True)
    (root / "rtl" / "synth" / "xc7.json").write_text(json.dumps(synth))
    verification = {
        "keras": {"simulator": "fpgaq.reference (NumPy) vs Keras", "samples": 100, "mismatches": 0, "bit_exact": True},
        "csim": {"simulator": "g++ C-simulation", "samples": 50, "mismatches": 0, "bit_exact": True},
        "cosim": {
            "simulator": "cocotb + Verilator",
            "samples": 40,
            "mismatches": 3,
            "bit_exact": False,
            "latency_measured": 5,
            "latency_reported": 5,
        },
    }
    (root / "verification.json").write_text(json.dumps(verification))
    if sweep:
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(64, 16)), rng.integers(0, 5, size=64)
        grid = {"device": "xc7a100t", "grid": {"weight_bits": [6, 4], "reuse_factor": [1, 2]}}
        run_sweep(design, grid, data=(x, y), out_dir=root / "sweep", progress=False)
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, design_and_model: tuple[Any, Any]) -> Path:
    return _make_project(tmp_path_factory.mktemp("project"), *design_and_model)


# ----------------------------------------------------------------------------- the page
def test_every_section_is_present_with_decodable_images(project: Path) -> None:
    out = write_report(project)
    assert out == project / "report.html"
    page = _parse(out.read_text())
    assert list(page.sections) == list(SECTIONS)
    for name, section in page.sections.items():
        assert not section["missing"], f"section {name} says something is missing: {section['text'][:200]}"
    # graph, resources, energy and sweep each carry one picture; every one is a PNG that decodes.
    assert {s: page.sections[s]["images"] for s in ("graph", "resources", "energy", "sweep")} == dict.fromkeys(
        ("graph", "resources", "energy", "sweep"), 1
    )
    for image in page.images:
        width, height = _decode_png(image["src"])
        assert width > 100 and height > 50, image["id"]
    # Self-contained: nothing is fetched from anywhere, no script runs.
    assert page.external == []
    assert "script" not in page.tags and "link" not in page.tags


def test_layer_table_puts_estimate_and_synthesis_side_by_side(project: Path, design_and_model) -> None:
    design, _ = design_and_model
    text = _parse(render_report(project)).sections["layers"]["text"]
    est = {n.name: n for n in design.estimate(device="xc7a100t").nodes}
    for name, counts in _SYNTH_LAYERS.items():
        assert f"{counts['luts']:,}" in text, name
        assert f"{est[name].lut:,.0f}" in text, name
    assert "smult_6_8" in text and "256 x smult_6_8" in text  # fc1: 8-bit inputs times 6-bit weights
    assert "fixed<6,1>" in text  # the weights' type
    assert "7 LUTs of top-level glue" in text
    graph = _parse(render_report(project)).sections["graph"]["text"]
    assert "ac_fixed<8, 4, true, AC_RND_CONV, AC_SAT>" in graph  # the input tensor's type


def test_verification_says_which_simulator_and_flags_a_mismatch(project: Path) -> None:
    text = " ".join(_parse(render_report(project)).sections["verification"]["text"].split())
    assert "g++ C-simulation" in text and "cocotb + Verilator" in text
    assert text.count("NOT bit-exact") == 1  # the co-simulation record above has 3 mismatching samples
    assert "latency 5 cycles measured, 5 reported" in text


def test_missing_records_are_reported_not_fatal(tmp_path: Path, design_and_model) -> None:
    root = _make_project(tmp_path / "p", *design_and_model, sweep=False)
    for name in ("qtools.json", "verification.json", "graph.json"):
        (root / name).unlink()
    shutil.rmtree(root / "rtl")
    (root / "estimate.json").write_text("{not json")
    page = _parse(render_report(root))
    assert list(page.sections) == list(SECTIONS)
    missing = {name for name, s in page.sections.items() if s["missing"]}
    assert missing == {"graph", "layers", "resources", "verification", "energy", "sweep"}
    sections = {k: " ".join(s["text"].split()) for k, s in page.sections.items()}
    assert "graph.json is missing" in sections["graph"]
    assert "no sweep was run" in sections["sweep"]
    assert "qtools.json is missing" in sections["energy"]
    assert "estimate.json could not be read" in sections["resources"]
    assert page.images == []


def test_flattened_synthesis_gives_totals_only(tmp_path: Path, design_and_model) -> None:
    root = _make_project(tmp_path / "p", *design_and_model, sweep=False)
    record = json.loads((root / "rtl/synth/xc7.json").read_text())
    del record["layers"], record["layers_unassigned"]  # what `fpgaq synth` (flattened) records
    (root / "rtl/synth/xc7.json").write_text(json.dumps(record))
    page = _parse(render_report(root))
    layers = " ".join(page.sections["layers"]["text"].split())
    assert "counted in total" in layers and f"{record['luts']:,}" in layers and "2,345" not in layers
    assert "no per-layer synthesis counts recorded" in page.sections["resources"]["text"]


def test_a_malformed_record_spoils_only_its_section(tmp_path: Path, design_and_model) -> None:
    root = _make_project(tmp_path / "p", *design_and_model, sweep=False)
    (root / "verification.json").write_text('{"csim": {"details": 1, "protocol_errors": 5}}')
    page = _parse(render_report(root))
    assert page.sections["verification"]["missing"]
    assert "unexpected shape" in page.sections["verification"]["text"]
    assert not page.sections["graph"]["missing"]


def test_layers_without_graph_fall_back_to_the_estimate(tmp_path: Path, design_and_model) -> None:
    root = _make_project(tmp_path / "p", *design_and_model, sweep=False)
    (root / "graph.json").unlink()
    page = _parse(render_report(root))
    assert not page.sections["layers"]["missing"] and not page.sections["resources"]["missing"]
    assert "2,345" in page.sections["layers"]["text"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "is not an fpgaq project: project.json is missing; create a project with `fpgaq demo -o DIR`"),
        (lambda d: (d / "project.json").write_text("[1,"), "project.json is not valid JSON"),
        (
            lambda d: (d / "project.json").write_text('{"schema": "other/9"}'),
            "has schema 'other/9'; supported: 'fpgaq-project/1'",
        ),
    ],
)
def test_a_directory_that_is_not_a_project_is_refused(tmp_path: Path, setup, message: str) -> None:
    setup(tmp_path)
    with pytest.raises(ReportError) as err:
        write_report(tmp_path)
    assert message in str(err.value)
    assert not (tmp_path / "report.html").exists()


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="is not a directory; give a project directory"):
        write_report(tmp_path / "nope")


def _cli(argv: list[str]) -> int:
    return main(argv)


def test_command_line(project: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "elsewhere" / "r.html"
    assert _cli(["report", str(project), "-o", str(out)]) == 0
    assert f"wrote {out.resolve()}" in capsys.readouterr().out
    assert list(_parse(out.read_text()).sections) == list(SECTIONS)
    assert _cli(["report", str(tmp_path / "empty")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_graph_record_keeps_every_type(design_and_model) -> None:
    design, _ = design_and_model
    data = graph_to_dict(design.graph)
    assert [n["name"] for n in data["nodes"]] == [n.name for n in design.graph.nodes]
    for node in design.graph.nodes:
        record = next(n for n in data["nodes"] if n["name"] == node.name)
        assert record["type"]["ac_fixed"] == design.graph.tensors[node.output].type.ac_fixed()
        if "kernel" in node.weights:
            assert record["weights"]["kernel"]["type"]["short"] == node.weights["kernel"].type.short()
            assert record["weights"]["kernel"]["nonzero"] == node.weights["kernel"].nonzero
    json.dumps(data)  # JSON-ready


def test_branching_graph_is_drawn_left_to_right() -> None:
    from fpgaq.report import _graph_plot, _levels

    t = {"short": "fixed<8,3>", "ac_fixed": "ac_fixed<8, 3, true>", "width": 8, "integer": 3}

    def node(name: str, op: str, inputs: list[str]) -> dict[str, Any]:
        return {"name": name, "op": op, "inputs": inputs, "output": name, "shape": [4], "type": t}

    graph = {
        "nodes": [
            node("x", "input", []),
            node("a", "dense", ["x"]),
            node("b", "dense", ["a"]),
            node("skip", "dense", ["x"]),
            node("sum", "add", ["b", "skip"]),
        ]
    }
    assert _levels(graph) == {"x": 0, "a": 1, "b": 2, "skip": 1, "sum": 3}
    width, height = _decode_png(_graph_plot(graph))
    assert width > height  # four columns, two rows


# ----------------------------------------------------------------------------- headless Chromium
_CHECK = """<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message || e.type)); }, true);
window.addEventListener("load", function () {
  // At "load" every image has finished: a decoded one is complete with a natural width, a broken one has none.
  var imgs = Array.prototype.slice.call(document.images);
  var decoded = imgs.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
  var fetched = performance.getEntriesByType("resource").map(function (r) { return r.name; })
    .filter(function (n) { return n.indexOf("data:") !== 0; });
  var out = document.createElement("pre");
  out.id = "fpgaq-check";
  out.textContent = JSON.stringify({
    images: imgs.length, decoded: decoded, errors: window.__errors, fetched: fetched,
    sections: Array.prototype.map.call(document.querySelectorAll("section"), function (s) { return s.id; })
  });
  document.body.appendChild(out);
});
</script>"""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _browser_check(page: Path, tmp_path: Path) -> dict[str, Any]:
    """Load a copy of the page (with the checking script first in <head>) and read the script's verdict."""
    browser = _chromium()
    assert browser is not None
    probe = tmp_path / f"probe-{page.stem}.html"
    probe.write_text(page.read_text().replace("<head>", "<head>\n" + _CHECK, 1))
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--dump-dom",
            probe.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    start = done.stdout.find('<pre id="fpgaq-check">')
    assert start >= 0, f"the check never ran; Chromium said:\n{done.stderr[-2000:]}"
    body = done.stdout[start + len('<pre id="fpgaq-check">') : done.stdout.index("</pre>", start)]
    return json.loads(html.unescape(body))


needs_chromium = pytest.mark.skipif(
    _chromium() is None, reason="Chromium is not installed (Debian package: chromium; apt-get install -y chromium)"
)


@needs_chromium
def test_page_loads_in_chromium_and_every_image_decodes(project: Path, tmp_path: Path) -> None:
    result = _browser_check(write_report(project), tmp_path)
    assert result["errors"] == []
    assert result["fetched"] == []
    assert result["sections"] == list(SECTIONS)
    assert result["images"] == 4 and result["decoded"] == 4


@needs_chromium
def test_chromium_check_catches_a_broken_image(project: Path, tmp_path: Path) -> None:
    """The browser check itself can fail: a corrupt PNG is reported as not decoded."""
    text = write_report(project).read_text()
    marker = 'id="sweep-image" alt="Pareto plot of the sweep" src="data:image/png;base64,'
    assert marker in text
    broken = tmp_path / "broken.html"
    broken.write_text(text.replace(marker, marker + "AAAA"))
    result = _browser_check(broken, tmp_path)
    assert result["images"] == 4 and result["decoded"] == 3


# ----------------------------------------------------------------------------- the demo, end to end
@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    import contextlib

    from fpgaq.cli import main

    out = tmp_path_factory.mktemp("demo")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["demo", "--quick", "--epochs", "1", "-o", str(out)]) == 0
    return out, buf.getvalue()


def test_quick_demo_runs_the_whole_flow(demo_run: tuple[Path, str]) -> None:
    out, printed = demo_run
    assert "float     model: test accuracy" in printed and "quantized model: test accuracy" in printed
    assert "ac_fixed<6, 1, true, AC_RND_CONV, AC_SAT>" in printed  # the 6-bit weights' hardware type
    assert "smult_6_8" in printed  # 6-bit weights times the quick model's 8-bit inputs
    assert "reference == Keras (logits, 3000 samples): True" in printed
    assert "HLS C-simulation == reference: True" in printed
    assert "RTL co-simulation (cocotb + Verilator) == reference: True" in printed
    assert f"everything is in {out.resolve()}" in printed and str(out.resolve() / "report.html") in printed
    for rel in ("model.keras", "hls/firmware", "rtl/fpgaq_rtl.json", "sweep/pareto.png", "quantization_report.txt"):
        assert (out / rel).exists(), rel
    verification = json.loads((out / "verification.json").read_text())
    assert {k: verification[k]["bit_exact"] for k in ("keras", "csim", "cosim")} == dict.fromkeys(
        ("keras", "csim", "cosim"), True
    )
    assert verification["cosim"]["latency_measured"] == verification["cosim"]["latency_reported"]
    # Every synthesized cell belongs to a layer or to the top module's glue: the per-layer counts add up.
    synth = json.loads((out / "rtl" / "synth" / "xc7.json").read_text())
    assert set(synth["layers"]) == {"fc1", "fc2", "output", "softmax"}
    for key in ("luts", "ffs", "dsp"):
        assert sum(v[key] for v in synth["layers"].values()) + synth["layers_unassigned"][key] == synth[key]


def test_quick_demo_report_has_every_section(demo_run: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = demo_run
    page = _parse((out / "report.html").read_text())
    assert list(page.sections) == list(SECTIONS)
    assert [name for name, s in page.sections.items() if s["missing"]] == []
    assert len(page.images) == 4
    for image in page.images:
        _decode_png(image["src"])
    if _chromium() is not None:
        result = _browser_check(out / "report.html", tmp_path)
        assert result["errors"] == [] and result["fetched"] == []
        assert result["decoded"] == result["images"] == 4


def test_decode_helper_rejects_a_corrupt_png() -> None:
    """_decode_png is what the section tests rely on; it must fail on a damaged image."""
    with pytest.raises((OSError, SyntaxError, binascii.Error, ValueError)):
        _decode_png("data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\nnot really").decode())
