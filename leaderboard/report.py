"""``fcbench report``: one static HTML page (opens from disk, no server) that answers "is the tuned
model better, and by how much?" on its own.

The page holds, for one benchmark's leaderboard:

- the headline: the best tuned candidate against the best base one, paired;
- the ranked table, with each candidate's per-category scores and whether it is significantly
  ahead of the candidate ranked next;
- paired tables: every tuned candidate against every base one, and every candidate against the
  best (difference, 95 % CI, p, Holm-adjusted p, won/lost items, minimum detectable difference);
- per-category bars with 95 % CI whiskers, drawn in HTML so they stay legible at any width;
- the loss curves of the trained candidates (``charts/loss_curves.svg``);
- a failure browser across candidates: item by item, the question, the offered functions, the
  gold answer, and each candidate's answer with the arguments that differ from the gold marked.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fcbench.benchmark.canonical import json_equal
from fcbench.benchmark.formats import Reading
from fcbench.benchmark.groups import Group
from fcbench.benchmark.metrics import METRICS, Estimate, pair_calls
from fcbench.benchmark.record import Answer, Record, read_records
from fcbench.benchmark.suites import ROBUSTNESS_PREFIX, find_frozen
from fcbench.leaderboard.compare import Paired, Ranked, paired_family, ranked_evaluations
from fcbench.leaderboard.stats import format_p, verdict_text
from fcbench.leaderboard.store import Evaluation, ItemResult, evaluations, item_results

from fcbench.errors import CannotAnswer

TEMPLATES = Path(__file__).parent / "templates"
CHART_METRICS: tuple[str, ...] = ("exact_match", "ast_match", "schema_valid", "arg_f1")
"""One per-category chart each (a metric whose every value repeats an earlier one's is left out)."""


# ---------------------------------------------------------------------------------------------
# Paired comparisons, as table rows


@dataclass(frozen=True, slots=True)
class PairRow:
    """B − A on the ranking metric overall, formatted for a table."""

    a: str
    b: str
    n: int
    difference: str
    ci: str
    p: str
    holm: str
    significant: bool
    mdd: str
    won_lost: str


def pair_row(paired: Paired) -> PairRow:
    d = paired.difference
    return PairRow(
        paired.a.candidate, paired.b.candidate, d.n, f"{100 * d.difference:+.1f}", f"[{100 * d.low:.1f}, {100 * d.high:.1f}]",
        format_p(d.p_value), format_p(d.decisive_p), d.significant(), f"{100 * d.detectable():.1f}", f"{d.wins}/{d.losses}" if d.wins is not None else "",
    )


def is_tuned(ev: Evaluation) -> bool:
    return ev.adapter_sha256 is not None


def tuned_against_base(ranked: Sequence[Ranked]) -> list[tuple[Evaluation, Evaluation]]:
    """(base, tuned) for every tuned candidate and every base one, best tuned first."""
    evals = [r.evaluation for r in ranked]
    return [(base, tuned) for tuned in evals if is_tuned(tuned) for base in evals if not is_tuned(base)]


def headline(pairs: Sequence[Paired], metric: str) -> str | None:
    """The best tuned candidate against the best base one (both lists come best first), in plain
    words, with what this many items can detect."""
    if not pairs:
        return None
    top = pairs[0]
    d = top.difference
    return (verdict_text(d, top.a.candidate, top.b.candidate) + f", Holm over the {len(pairs)} tuned-vs-base comparison(s) below."
            f" With {d.n} items, true differences below {100 * d.detectable():.1f} points are likely to go unseen (80 % power, α = 0.05).")


# ---------------------------------------------------------------------------------------------
# The ranked table


def _cell(est: Estimate | None) -> str:
    return "–" if est is None else est.percent_text(ci_decimals=1)


def _row(r: Ranked, metric: str, groups: Sequence[str], ahead: Paired | None) -> dict[str, Any]:
    ev = r.evaluation
    overall = r.estimates.get("overall", {})
    return {
        "rank": r.rank,
        "candidate": ev.candidate,
        "method": ev.method,
        "fewshot": ev.fewshot,
        "n": ev.n_items,
        "score": _cell(overall.get(metric)),
        "metrics": {m: _cell(overall.get(m)) for m in METRICS},
        "groups": {g: _cell(r.estimates.get(g, {}).get(metric)) for g in groups},
        "provenance": ev.provenance(),
        "ahead": pair_row(ahead) if ahead is not None else None,
    }


def _groups(ranked: Sequence[Ranked], *, splits: bool) -> list[str]:
    seen: dict[str, None] = {}
    for r in ranked:
        for group in r.estimates:
            if group != "overall" and (Group.parse(group).kind == "split") == splits:
                seen.setdefault(group)
    return list(seen)


# ---------------------------------------------------------------------------------------------
# Bars


@dataclass(frozen=True, slots=True)
class Bar:
    """One candidate's estimate in one group, in percent."""

    candidate: str
    mean: float
    low: float
    high: float
    text: str


@dataclass(frozen=True, slots=True)
class BarChart:
    title: str
    groups: list[tuple[str, list[Bar]]]


def _bar(candidate: str, est: Estimate) -> Bar:
    # clamped: a Wilson bound can sit a rounding error outside [0, 1]
    def clamp(value: float) -> float:
        return min(100.0, max(0.0, 100 * value))

    return Bar(candidate, clamp(est.mean), clamp(est.low), clamp(est.high), est.percent_text(ci_decimals=1))


def bar_chart(ranked: Sequence[Ranked], groups: Sequence[str], metric: str, title: str) -> BarChart | None:
    """One block of bars per group, one bar per candidate measured there; None when none is."""
    blocks = []
    for group in groups:
        bars = [_bar(r.evaluation.candidate, est) for r in ranked if (est := r.score(metric, group)) is not None and not math.isnan(est.mean)]
        if bars:
            blocks.append((Group.parse(group).name if group != "overall" else "overall", bars))
    return BarChart(title, blocks) if blocks else None


def _values(ranked: Sequence[Ranked], metric: str, groups: Sequence[str]) -> list[float | None]:
    return [None if (est := r.score(metric, g)) is None else est.mean for r in ranked for g in groups]


def distinct_metrics(ranked: Sequence[Ranked], metrics: Sequence[str], groups: Sequence[str]) -> list[str]:
    """``metrics`` less those whose every value equals an earlier one's (ast_match repeats
    exact_match on a benchmark without alternative answers): the same chart twice says nothing."""
    kept: list[str] = []
    for metric in metrics:
        values = _values(ranked, metric, groups)
        if any(v is not None for v in values) and all(values != _values(ranked, earlier, groups) for earlier in kept):
            kept.append(metric)
    return kept


# ---------------------------------------------------------------------------------------------
# The failure browser


ArgumentStatus = Literal["same", "differs", "extra", "missing"]


@dataclass(frozen=True, slots=True)
class ArgumentView:
    key: str
    value: str
    """The candidate's value as JSON; for ``missing``, the gold's."""
    status: ArgumentStatus
    gold: str | None = None
    """The gold value where it ``differs``."""


@dataclass(frozen=True, slots=True)
class CallView:
    name: str
    name_status: Literal["same", "wrong", "extra"]
    """``wrong``: paired with a gold call of another name; ``extra``: no gold call left to pair with."""
    arguments: list[ArgumentView]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def call_views(predicted: Answer, gold: Answer) -> tuple[list[CallView], list[str]]:
    """The candidate's calls with each argument marked against the gold call it pairs with (the
    pairing the metrics use), and the gold calls nobody made, as ``name(arguments)``."""
    _, pairs = pair_calls(predicted, gold) if predicted and gold else (0, [])
    partner = dict(pairs)
    views = []
    for i, call in enumerate(predicted):
        if i not in partner:
            views.append(CallView(call.name, "extra", [ArgumentView(k, _json(v), "extra") for k, v in call.arguments.items()]))
            continue
        expected = gold[partner[i]].arguments
        arguments = [
            ArgumentView(k, _json(v), "extra") if k not in expected
            else ArgumentView(k, _json(v), "same") if json_equal(v, expected[k])
            else ArgumentView(k, _json(v), "differs", _json(expected[k]))
            for k, v in call.arguments.items()
        ]
        arguments += [ArgumentView(k, _json(v), "missing") for k, v in expected.items() if k not in call.arguments]
        views.append(CallView(call.name, "same" if call.name == gold[partner[i]].name else "wrong", arguments))
    made = set(partner.values())
    unmade = [f"{g.name}({_json(g.arguments)})" for j, g in enumerate(gold) if j not in made]
    return views, unmade


@dataclass(frozen=True, slots=True)
class Outcome:
    """One candidate's answer to one item."""

    candidate: str
    right: bool
    verdict: str
    messages: list[str]
    output: str
    calls: list[CallView] | None
    """None: the output held no readable answer (its verdict says why)."""
    unmade: list[str]
    broken: bool = False
    """On a robustness variant: right on the original item, wrong here."""


@dataclass(frozen=True, slots=True)
class ItemView:
    """One item that some candidate got wrong, with every candidate's answer."""

    item_id: str
    category: str
    split: str | None
    question: str
    functions: str
    gold: str
    outcomes: list[Outcome]

    @property
    def wrong_for(self) -> list[str]:
        return [o.candidate for o in self.outcomes if not o.right]

    @property
    def verdicts(self) -> dict[str, str]:
        return {o.candidate: o.verdict for o in self.outcomes if not o.right}

    @property
    def broken(self) -> bool:
        return any(o.broken for o in self.outcomes)


def reading_of(ev: Evaluation) -> Reading:
    summary = json.loads(ev.summary)
    return Reading(summary.get("answer_format", "fcbench"), summary.get("mode", "prompt"))


def outcome(ev: Evaluation, reading: Reading, item: ItemResult, record: Record | None, metric: str, right_before: bool = False) -> Outcome:
    verdict, messages = item.explained(metric)
    right = item.metrics.get(metric, 0.0) >= 1.0
    output = item.output or ""
    parsed = reading.read(output) if record is not None else None
    if parsed is None or parsed.answer is None or record is None:
        return Outcome(ev.candidate, right, verdict, messages, output, None, [], right_before and not right)
    calls, unmade = call_views(parsed.answer, record.gold)
    return Outcome(ev.candidate, right, verdict, messages, output, calls, unmade, right_before and not right)


def failure_items(evals: Sequence[Evaluation], items: Mapping[int, Mapping[str, ItemResult]], records: Mapping[str, Record], metric: str,
                  right_on_original: Mapping[int, set[str]] | None = None) -> list[ItemView]:
    """Every item some candidate is not right on (``metric``), in benchmark order, with each
    candidate's answer in the order of ``evals``. ``right_on_original``: per evaluation of a
    robustness variant, the items its candidate got right on the original benchmark."""
    readings = {ev.id: reading_of(ev) for ev in evals}
    before = right_on_original or {}
    ids = sorted({i for ev in evals for i in items[ev.id]}, key=lambda i: (records[i].line or 0, i) if i in records else (math.inf, i))
    views = []
    for item_id in ids:
        outcomes = [outcome(ev, readings[ev.id], items[ev.id][item_id], records.get(item_id), metric, item_id in before.get(ev.id, ()))
                    for ev in evals if item_id in items[ev.id]]
        if all(o.right for o in outcomes):
            continue
        first = next(items[ev.id][item_id] for ev in evals if item_id in items[ev.id])
        record = records.get(item_id)
        views.append(ItemView(
            item_id, first.category, first.split,
            record.question if record else "(not in this benchmark version)",
            json.dumps(list(record.functions), ensure_ascii=False, indent=1) if record else "",
            _json(record.raw.get("output")) if record else "",
            outcomes,
        ))
    return views


def right_on_original(conn: sqlite3.Connection, ev: Evaluation, metric: str) -> set[str]:
    """The items ``ev``'s candidate got right in its newest evaluation on fcbench itself (the
    original of a robustness variant): an item right there and wrong on the variant is one the
    variant broke."""
    from fcbench.benchmark.suites import FCBENCH

    originals = [o for o in evaluations(conn, FCBENCH.name) if o.identity == ev.identity]
    if not originals:
        return set()
    return {i for i, item in item_results(conn, originals[-1].id).items() if item.metrics.get(metric, 0.0) >= 1.0}


def records_of(ev: Evaluation) -> dict[str, Record]:
    """id -> record of the benchmark the evaluation ran on, if that version is still here."""
    found = find_frozen(ev.benchmark, ev.benchmark_version, ev.benchmark_sha256)
    if found is None:
        return {}
    records, _ = read_records(found.path)
    return {r.id: r for r in records}


# ---------------------------------------------------------------------------------------------
# The page


@dataclass(frozen=True, slots=True)
class Report:
    page: Path
    charts: list[Path]
    failures: int
    """Items some candidate is not right on."""


def report_from_db(conn: sqlite3.Connection, out_dir: Path, benchmark: str, metric: str, candidate: str | None = None,
                   version: str | None = None, across_versions: bool = False) -> Report:
    """The report of one benchmark's leaderboard; CannotAnswer when the leaderboard cannot rank
    or ``candidate`` (whose failures the browser shows first) is not on it."""
    ranked = ranked_evaluations(conn, benchmark, metric, version, across_versions)
    if candidate is not None and all(r.evaluation.candidate != candidate for r in ranked):
        raise CannotAnswer(f"{candidate!r} is not on the {benchmark} leaderboard; candidates: {', '.join(r.evaluation.candidate for r in ranked)}")
    evals = [r.evaluation for r in ranked]
    best = evals[0]
    ahead = paired_family(conn, [(evals[i + 1], evals[i]) for i in range(len(evals) - 1)], metric)
    items = {ev.id: item_results(conn, ev.id) for ev in evals}
    original = {ev.id: right_on_original(conn, ev, metric) for ev in evals} if benchmark.startswith(ROBUSTNESS_PREFIX) else None
    return write_report(
        ranked, out_dir, metric=metric, benchmark=benchmark,
        ahead={p.a.id: p for p in ahead},
        versus_base=paired_family(conn, tuned_against_base(ranked), metric),
        versus_best=paired_family(conn, [(ev, best) for ev in evals[1:]], metric),
        failures=failure_items(evals, items, records_of(best), metric, original),
        browsed=candidate or best.candidate,
    )


def write_report(ranked: Sequence[Ranked], out_dir: Path, *, metric: str, benchmark: str, ahead: Mapping[int, Paired], versus_base: Sequence[Paired],
                 versus_best: Sequence[Paired], failures: Sequence[ItemView], browsed: str) -> Report:
    """Write ``index.html`` and ``charts/loss_curves.svg`` under ``out_dir``."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    categories = _groups(ranked, splits=False)
    splits = _groups(ranked, splits=True)
    charts = [c for m in distinct_metrics(ranked, CHART_METRICS, ["overall", *categories])
              if (c := bar_chart(ranked, ["overall", *categories], m, f"{m} by category"))]
    if splits and (split_chart := bar_chart(ranked, splits, metric, f"{metric}: functions seen in training and unseen")):
        charts.append(split_chart)
    charts_dir = out_dir / "charts"
    charts_dir.mkdir(parents=True, exist_ok=True)
    loss_path = charts_dir / "loss_curves.svg"
    files = [loss_path] if loss_chart(ranked, loss_path) else []

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    evaluated = ranked[0].evaluation
    html = env.get_template("report.html").render(
        title=f"{benchmark} {evaluated.benchmark_version}: {len(ranked)} candidate(s) by {metric}",
        metric=metric, versions=evaluated.versions_text(), groups=categories, metrics=METRICS,
        rows=[_row(r, metric, categories, ahead.get(r.evaluation.id)) for r in ranked],
        headline=headline(versus_base, metric) or (verdict_text(versus_best[0].difference, versus_best[0].a.candidate, versus_best[0].b.candidate) if versus_best else None),
        versus_base=[pair_row(p) for p in versus_base], versus_best=[pair_row(p) for p in versus_best],
        charts=charts, loss_chart=loss_path.relative_to(out_dir).as_posix() if files else None, trained=trained_runs(ranked),
        failures=failures, candidates=[r.evaluation.candidate for r in ranked], browsed=browsed,
        verdicts=sorted({v for f in failures for v in f.verdicts.values()}), categories=sorted({f.category for f in failures}),
    )
    page = out_dir / "index.html"
    page.write_text(html, encoding="utf-8")
    return Report(page, files, len(failures))


def trained_runs(ranked: Sequence[Ranked]) -> list[dict[str, Any]]:
    """Each trained candidate's run once (an adapter evaluated 0- and 3-shot is one run): what
    its training did and the validation loss (and perplexity) it stopped at."""
    runs: dict[str, dict[str, Any]] = {}
    for r in ranked:
        m = r.evaluation.manifest()
        if m and m.get("name") not in runs:
            loss, perplexity = m.get("best_eval_loss"), m.get("best_eval_perplexity")
            runs[m.get("name")] = {
                "name": m.get("name"), "method": m.get("method"), "steps": m.get("steps"), "seconds": m.get("train_seconds"),
                "loss": "–" if loss is None else f"{loss:.4f}", "perplexity": "–" if perplexity is None else f"{perplexity:.3f}",
                "evals": len(m.get("eval_loss_curve") or []),
            }
    return list(runs.values())


def loss_chart(ranked: Sequence[Ranked], path: Path) -> bool:
    """Training loss (lines) and validation loss (dots) per step, one colour per adapter, as SVG
    (text stays text, and it scales with the page)."""
    curves = [(r.evaluation.candidate, m) for r in ranked if (m := r.evaluation.manifest()) and m.get("loss_curve")]
    if not curves:
        return False
    import matplotlib

    matplotlib.use("Agg")  # no display: render to files
    import matplotlib.pyplot as plt

    with plt.rc_context({"svg.fonttype": "none"}):  # text stays text in the SVG
        _draw_loss_curves(plt, curves, path)
    return True


def _draw_loss_curves(plt: Any, curves: Sequence[tuple[str, dict[str, Any]]], path: Path) -> None:
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(8, 4.2))
    drawn: set[str] = set()
    for candidate, manifest in curves:
        name = manifest.get("name", candidate)
        if name in drawn:  # one adapter evaluated 0-shot and 3-shot: one curve
            continue
        drawn.add(name)
        train = manifest["loss_curve"]
        (line,) = ax.plot([p["step"] for p in train], [p["loss"] for p in train], label=_literal(f"{name} train"))
        evals = manifest.get("eval_loss_curve") or []
        if evals:
            ax.plot([p["step"] for p in evals], [p["eval_loss"] for p in evals], "o--", color=line.get_color(), label=_literal(f"{name} validation"))
    ax.set_xlabel("step")
    ax.set_ylabel("loss (log scale)")
    ax.set_yscale("log")
    # plain numbers on the log axis (0.6, not 6×10⁻¹), and between powers of ten only 2 and 5,
    # so that the labels never crowd
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:.2g}" if _leading_digit(v) in (2, 5) else ""))
    ax.set_title("loss curves of the trained candidates")
    # The legend goes under the plot, where long candidate names do not squeeze the axes.
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    fig.savefig(path, bbox_inches="tight", format="svg")
    plt.close(fig)


def _leading_digit(value: float) -> int:
    return round(value / 10 ** math.floor(math.log10(value))) if value > 0 else 0


def _literal(text: str) -> str:
    """A candidate's name as plain chart text: matplotlib reads text between two ``$`` as
    mathtext, and a name like ``run$1$2`` would fail the whole report."""
    return text.replace("$", r"\$")
