"""The report page: what it says (parsed HTML, numbers worked out by hand) and how it renders
(Debian's chromium at a wide screen, a laptop and a phone)."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fcbench.benchmark.record import Call
from fcbench.benchmark.results import AdapterRef
from fcbench.benchmark.suites import FCBENCH
from fcbench.leaderboard.report import ArgumentView, call_views, report_from_db
from fcbench.leaderboard.store import opened, record_results
from test_leaderboard import make_results


class _Page(HTMLParser):
    """Rows per table id, items in the failure browser, and the classes of marked text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, int] = {}
        self.items: list[dict[str, str | None]] = []
        self.marks: list[str] = []
        self.chart_titles: list[str] = []
        self._table: str | None = None
        self._in_body = False
        self._in_chart_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            self._table = attributes.get("id")
            self.rows[self._table or ""] = 0
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body and self._table is not None:
            self.rows[self._table] += 1
        elif tag == "article":
            self.items.append(attributes)
        elif tag == "mark":
            self.marks.append(attributes.get("class") or "")
        elif tag == "h3":
            self._in_chart_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag == "h3":
            self._in_chart_title = False

    def handle_data(self, data: str) -> None:
        if self._in_chart_title:
            self.chart_titles.append(data)


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    # 24 items: tuned is right on the first 20, base 3-shot on the first 8, base 0-shot on the first 4
    tuned = AdapterRef(f"{tmp_path}/runs/tuned", "ab" * 32)
    version = FCBENCH.frozen().version  # the records the failure browser shows are found by version and sha256
    with opened(tmp_path / "lb.db") as conn:
        record_results(conn, make_results(tmp_path / "r", "base-0shot", set(range(4)), n=24, version=version))
        record_results(conn, make_results(tmp_path / "r", "base-3shot", set(range(8)), n=24, fewshot=3, version=version))
        record_results(conn, make_results(tmp_path / "r", "tuned-0shot", set(range(20)), n=24, adapter=tuned, version=version))
        report_from_db(conn, tmp_path / "report", "fcbench", "exact_match")
    return tmp_path / "report"


def test_the_report_ranks_compares_and_browses_every_candidates_failures(report_dir: Path) -> None:
    html = (report_dir / "index.html").read_text()
    page = _Page()
    page.feed(html)
    assert page.rows["leaderboard"] == 3 and page.rows["versus-base"] == 2 and page.rows["versus-best"] == 2
    assert html.index("1. tuned-0shot") < html.index("2. base-3shot") < html.index("3. base-0shot")
    # Tuned against base 3-shot: 12 items won (8..19), none lost, +50.0 points; against base
    # 0-shot 16 won, +66.7. Base 3-shot is ahead of base 0-shot by 4 items won, none lost:
    # McNemar p = 2 * 0.5**4 = 0.125 (Holm over the two adjacent pairs keeps it), not significant.
    assert "tuned-0shot is better than base-3shot on exact_match (overall): +50.0 points" in html
    assert '<span class="sig-up">+50.0</span>' in html and "12/0" in html and '<span class="sig-up">+66.7</span>' in html and "16/0" in html
    assert re.search(r'<span class="" title="95 % CI \[[0-9.]+, [0-9.]+\], p = 0.12 \(Holm\)">\+16.7</span>', html)
    # Every item some candidate got wrong (base 0-shot: 4..23), each with all three answers.
    assert len(page.items) == 20
    wrong_for = [json.loads(item["data-verdicts"] or "{}") for item in page.items]
    assert sum("tuned-0shot" in w for w in wrong_for) == 4 and all("base-0shot" in w for w in wrong_for)
    assert sum(item["data-disagree"] == "yes" for item in page.items) == 16  # 4..19: tuned right, base 0-shot wrong
    # The wrong answer calls no_such_function(): its name is marked, and the gold's arguments are missing.
    assert "wrong" in page.marks and "missing" in page.marks
    # ast_match, schema_valid and arg_f1 all equal exact_match here (right = gold, wrong = an
    # unknown function with no arguments): their charts would repeat it, so only one is drawn.
    assert page.chart_titles == ["exact_match by category", "exact_match: functions seen in training and unseen"]
    # Model output is text, never markup.
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html


def test_each_argument_is_marked_against_the_gold_call_it_pairs_with() -> None:
    gold = (Call("book", {"city": "Oslo", "nights": 2}), Call("rate", {"stars": 5}))
    views, unmade = call_views((Call("book", {"city": "Oslo", "nights": 3, "pets": True}),), gold)
    assert [v.name_status for v in views] == ["same"]
    assert views[0].arguments == [
        ArgumentView("city", '"Oslo"', "same"), ArgumentView("nights", "3", "differs", "2"), ArgumentView("pets", "true", "extra"),
    ]
    assert unmade == ['rate({"stars": 5})']
    # Another function than the gold's: its name is marked, the gold's argument is missing.
    views, unmade = call_views((Call("cancel", {}),), gold[:1])
    assert views[0].name_status == "wrong" and unmade == []
    assert views[0].arguments == [ArgumentView("city", '"Oslo"', "missing"), ArgumentView("nights", "2", "missing")]
    # Two calls where one is due: the second pairs with nothing.
    views, _ = call_views((Call("book", {"city": "Oslo", "nights": 2}), Call("book", {"city": "Rome", "nights": 2})), gold[:1])
    assert [v.name_status for v in views] == ["same", "extra"]


def test_a_dollar_in_a_candidate_name_is_text_in_the_report(tmp_path: Path) -> None:
    with opened(tmp_path / "lb.db") as conn:
        record_results(conn, make_results(tmp_path, "run$1$2", set(range(3)), n=8))
        record_results(conn, make_results(tmp_path, "a$b", set(range(5)), n=8))
        written = report_from_db(conn, tmp_path / "report", "fcbench", "exact_match")
    assert written.failures == 5 and "run$1$2" in written.page.read_text()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTHS = (1400, 800, 390)
"""A wide screen, a laptop window, a phone."""


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it where apt-get can)")
def test_the_report_works_from_a_phone_to_a_wide_screen(report_dir: Path, tmp_path: Path) -> None:
    from PIL import Image, ImageStat
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        for width in WIDTHS:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto((report_dir / "index.html").as_uri())
            # The page itself never scrolls sideways; wide tables scroll inside their own box.
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            assert page.locator("#leaderboard tbody tr").first.inner_text().startswith("1. tuned-0shot")
            assert page.locator("#headline").is_visible()
            # The candidate column stays in view when the table scrolls under it.
            page.eval_on_selector("#leaderboard", "t => t.parentElement.scrollLeft = 10000")
            box, frame = page.locator("#leaderboard td.cand").first.bounding_box(), page.locator("#leaderboard").evaluate("t => t.parentElement.getBoundingClientRect().left")
            assert box is not None and abs(box["x"] - frame) < 2
            # Every bar is visible, a zero included (base 0-shot is right on no parallel item).
            widths = page.eval_on_selector_all(".fill", "bars => bars.map(b => b.getBoundingClientRect().width)")
            assert widths and min(widths) >= 2
            # The failure browser filters in place: the best candidate's 4 wrong items, then any candidate's 20.
            assert page.inner_text("#shown-count") == "4"
            page.select_option("#candidate-filter", "")
            assert page.inner_text("#shown-count") == "20" and page.locator("#failures article:not([hidden])").count() == 20
            page.check("#split-filter")
            assert page.inner_text("#shown-count") == "16"
            page.screenshot(path=str(tmp_path / f"report-{width}.png"), full_page=True)
            page.close()
        browser.close()
    for width in WIDTHS:
        image = Image.open(tmp_path / f"report-{width}.png").convert("L")
        assert image.width == width and image.height > 900
        assert ImageStat.Stat(image).stddev[0] > 10  # text and bars, not a blank page


def test_on_a_robustness_variant_the_items_it_broke_are_marked(tmp_path: Path) -> None:
    with opened(tmp_path / "lb.db") as conn:
        record_results(conn, make_results(tmp_path / "o", "cand", set(range(8)), n=10))
        variant = record_results(conn, make_results(tmp_path / "v", "cand", set(range(6)), n=10))
        conn.execute("UPDATE evaluations SET benchmark = 'robust_noisy' WHERE id = ?", (variant,))  # as if recorded on the variant's suite
        report_from_db(conn, tmp_path / "report", "robust_noisy", "exact_match")
    html = (tmp_path / "report" / "index.html").read_text()
    page = _Page()
    page.feed(html)
    # wrong on the variant: 6..9; right on the original before: 6 and 7
    assert len(page.items) == 4 and [item["data-broken"] for item in page.items] == ["yes", "yes", "no", "no"]
    assert html.count("right on the original: broken by this variant</span>") == 2 and 'id="broken-filter"' in html
