"""``kmeans-rbf report``: the page builds, reads its sources, and every link in it resolves."""

import html.parser
import json
import pathlib
import shutil
import urllib.parse

from kmeans_rbf import cli, registry, report
from kmeans_rbf.oracle import CHECKS, SCALE_CHECKS

ROOT = pathlib.Path(__file__).resolve().parents[1]


class _Links(html.parser.HTMLParser):
    """The ids, and the local href/src targets, of an HTML page."""

    def __init__(self):
        super().__init__()
        self.ids, self.targets = set(), []

    def handle_starttag(self, tag, attributes):
        attributes = dict(attributes)
        if "id" in attributes:
            self.ids.add(attributes["id"])
        for name in ("href", "src"):
            value = attributes.get(name)
            if value and not urllib.parse.urlparse(value).scheme:
                self.targets.append(value)


def broken_links(page):
    """Every local href/src of ``page`` whose file is missing or whose anchor is not an id."""
    links = _Links()
    links.feed(page.read_text())
    broken = []
    for target in links.targets:
        path, _, fragment = target.partition("#")
        if path and not (page.parent / urllib.parse.unquote(path)).is_file():
            broken.append(target)
        elif not path and fragment not in links.ids:
            broken.append(target)
    return broken


def test_report_builds_from_the_executed_notebooks(executed_notebooks, tmp_path):
    page = report.build(tmp_path / "report", ROOT, figures_from=executed_notebooks.output)
    text = page.read_text()
    assert broken_links(page) == []
    claims = registry.load(ROOT / "theory" / "claims.toml")
    for claim in claims:
        assert f'id="claim-{claim["id"]}"' in text or f"id='claim-{claim['id']}'" in text, claim["id"]
    # Every key figure of every notebook is on the page, every verdict is counted, and none
    # disagrees with the registry (a disagreement would already have failed its notebook).
    for run in executed_notebooks.runs.values():
        for figure in run.figures:
            if figure["key"]:
                assert f"figures/{figure['file']}" in text
    verdicts = sum(len(run.verdicts) for run in executed_notebooks.runs.values())
    assert f"they give {verdicts} verdicts" in text
    assert "DISAGREES" not in text
    # The peer matrix has a row for every check of the oracle.
    assert all(f"<td><code>{check.id}</code></td>" in text for check in CHECKS + SCALE_CHECKS)
    assert ("benchmarks/results.json" in text) and (
        (ROOT / "benchmarks" / "results.json").is_file() or "does not exist" in text)


def test_report_shows_any_registry_field_and_the_benchmarks(executed_notebooks, tmp_path):
    # A copy of the project whose registry has a field the report has never heard of, and a
    # benchmark file: both appear on the page, and the links still resolve.
    root = tmp_path / "project"
    for folder in ("theory", "notebooks", "tests"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    registry_path = root / "theory" / "claims.toml"
    text = registry_path.read_text().replace('id = "sandwich"\n', 'id = "sandwich"\nnever_seen_field = "unheard-of"\n', 1)
    registry_path.write_text(text)
    (root / "benchmarks").mkdir()
    (root / "benchmarks" / "results.json").write_text(json.dumps(
        [{"function": "soft_step", "N": 100000, "ratio": 3.25}, {"function": "assign", "N": 100000, "ratio": 1.5}]))
    page = report.build(tmp_path / "report", root, figures_from=executed_notebooks.output)
    text = page.read_text()
    assert broken_links(page) == []
    assert "<th>Never seen field</th>" in text and "unheard-of" in text
    assert "<th>Coq</th>" in text and "proofs/coq/Sandwich.v::sandwich" in text  # the registry's own field
    assert "<td>soft_step</td>" in text and "3.25" in text


def test_link_checker_catches_broken_links(tmp_path):
    page = tmp_path / "index.html"
    (tmp_path / "here.png").write_bytes(b"")
    page.write_text("<a href='#top' id='top'>a</a><a href='#nowhere'>b</a><img src='here.png'>"
                    "<img src='missing.png'><a href='https://example.org'>c</a>")
    assert broken_links(page) == ["#nowhere", "missing.png"]


def test_report_command_line(executed_notebooks, tmp_path, capsys):
    status = cli.main(["report", str(tmp_path / "out"), "--figures", str(executed_notebooks.output)])
    assert status == 0
    assert (tmp_path / "out" / "index.html").is_file()
    assert "wrote" in capsys.readouterr().out
