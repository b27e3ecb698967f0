"""Reports over stored runs: an HTML page (plots as PNG beside it and embedded in it, so the page
is one self-contained file), a Markdown summary, and the comparison of two runs item by item.

Everything that comes from documents or datasets (questions, passages, answers) is escaped."""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

METRICS = (("ndcg_at_10", "nDCG@10"), ("recall_at_10", "Recall@10"), ("mrr_at_10", "MRR@10"), ("hit_at_5", "hit@5"),
           ("answer_rate", "answer rate"), ("refusal_rate", "refusal rate"),
           ("citation_precision", "citation precision"), ("keyword_hit_rate", "fact in answer"))
WORST = 10


def label(run: dict) -> str:
    return f"{run['dataset']['name']} · {run['name']}"


def _mean(values: Sequence[float | bool | None]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def group_scores(run: dict, by: str) -> dict[str, dict[str, float | int | None]]:
    """Per value of an item field (`language`, `doc_type`): items, nDCG@10, share of items passed."""
    groups: dict[str, list[dict]] = {}
    for item in run["items"]:
        groups.setdefault(str(item.get(by) or "—"), []).append(item)
    return {key: {"items": len(items), "ndcg_at_10": _mean([i.get("ndcg_at_10") for i in items]),
                  "passed": _mean([not i.get("failure") for i in items])}
            for key, items in sorted(groups.items())}


def baseline_deltas(runs: Sequence[dict]) -> list[dict[str, object]]:
    """Per dataset: Vraagbaak's hybrid against the LlamaIndex-default baseline (nDCG@10)."""
    rows = []
    datasets = dict.fromkeys(r["dataset"]["name"] for r in runs)
    for name in datasets:
        of_set = [r for r in runs if r["dataset"]["name"] == name]
        base = next((r for r in of_set if r["config"]["retriever"] == "llamaindex"), None)
        ours = next((r for r in of_set if r["config"]["retriever"] == "hybrid"), None)
        if not base or not ours or base["metrics"]["ndcg_at_10"] is None or ours["metrics"]["ndcg_at_10"] is None:
            continue
        b, o = base["metrics"]["ndcg_at_10"], ours["metrics"]["ndcg_at_10"]
        rows.append({"dataset": name, "items": ours["metrics"]["items"], "baseline": b, "hybrid": o,
                     "delta": round(o - b, 4), "relative": round((o - b) / b * 100, 1) if b else None})
    return rows


def worst_items(run: dict, n: int = WORST) -> list[dict]:
    """Failed items first, then the lowest nDCG@10."""
    return sorted(run["items"], key=lambda i: (not i.get("failure"), i.get("ndcg_at_10") if i.get("ndcg_at_10")
                                               is not None else 1.0, i["id"]))[:n]


# -- plots --------------------------------------------------------------------------------------


def _figure(draw: Callable, width: float = 9.0, height: float = 4.0) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    try:
        draw(ax)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def _bars(ax, groups: list[str], series: dict[str, list[float | None]], ylabel: str, title: str) -> None:  # type: ignore[no-untyped-def]
    width = 0.8 / max(len(series), 1)
    for n, (name, values) in enumerate(series.items()):
        xs = [g + n * width for g in range(len(groups))]
        ax.bar(xs, [v if v is not None else 0 for v in values], width, label=name)
    ax.set_xticks([g + width * (len(series) - 1) / 2 for g in range(len(groups))], groups, fontsize=8,
                  rotation=12 if len(groups) > 5 else 0)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)


def plots(runs: Sequence[dict]) -> dict[str, bytes]:
    """name → PNG bytes: metrics per configuration, per language, per document type, latency."""
    out: dict[str, bytes] = {}
    shown = [(key, name) for key, name in METRICS if any(r["metrics"].get(key) is not None for r in runs)]
    out["metrics"] = _figure(lambda ax: _bars(
        ax, [n for _, n in shown], {label(r): [r["metrics"].get(k) for k, _ in shown] for r in runs},
        "score", "Metrics per configuration"), width=10)
    datasets = list(dict.fromkeys(r["dataset"]["name"] for r in runs))
    if len(datasets) > 1:  # the retrievers side by side on every set
        names = list(dict.fromkeys(r["name"] for r in runs if r["metrics"].get("ndcg_at_10") is not None))
        score = {(r["dataset"]["name"], r["name"]): r["metrics"].get("ndcg_at_10") for r in runs}
        out["per-dataset"] = _figure(lambda ax: _bars(
            ax, datasets, {n: [score.get((d, n)) for d in datasets] for n in names}, "nDCG@10",
            "Retrievers per dataset (nDCG@10, documents ranked by their best passage)"), width=10)
    for field, title in (("language", "language"), ("doc_type", "document type")):
        keys = sorted({k for r in runs for k in group_scores(r, field)})
        if len(keys) < 2 and field == "doc_type":
            continue
        metric = "ndcg_at_10" if any(r["metrics"].get("ndcg_at_10") is not None for r in runs) else "passed"
        out[f"per-{field}"] = _figure(lambda ax, keys=keys, field=field, metric=metric, title=title: _bars(
            ax, keys, {label(r): [group_scores(r, field).get(k, {}).get(metric) for k in keys] for r in runs},
            "nDCG@10" if metric == "ndcg_at_10" else "items passed", f"Per {title}"))
    rows = sum(any(i.get(k) is not None for i in r["items"]) for r in runs for k in ("answer_ms", "retrieve_ms"))
    out["latency"] = _figure(lambda ax: _latency(ax, runs), height=max(3.0, 0.32 * rows + 1.2))
    return out


def _latency(ax, runs: Sequence[dict]) -> None:  # type: ignore[no-untyped-def]
    data, names = [], []
    for r in runs:
        for key, what in (("answer_ms", "answer"), ("retrieve_ms", "retrieval")):
            values = [i[key] for i in r["items"] if i.get(key) is not None]
            if values:
                data.append(values)
                names.append(f"{label(r)}\n{what}")
    if data:
        ax.boxplot(data, orientation="horizontal", showfliers=True)
        ax.set_yticks(range(1, len(names) + 1), names, fontsize=7)
        ax.set_xscale("log")
    ax.set_xlabel("milliseconds per item (log scale)")
    ax.set_title("Latency distribution")
    ax.grid(axis="x", alpha=0.3)


# -- Markdown and HTML ---------------------------------------------------------------------------


def _fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else ("—" if value is None else str(value))


def markdown_summary(runs: Sequence[dict]) -> str:
    shown = [(key, name) for key, name in METRICS if any(r["metrics"].get(key) is not None for r in runs)]
    lines = ["# Evaluation report", "", "| dataset | configuration | items | " + " | ".join(n for _, n in shown)
             + " | p50 ms | failed |", "|---" * (len(shown) + 5) + "|"]
    for r in runs:
        m = r["metrics"]
        p50 = m.get("answer_ms_p50") if m.get("answer_ms_p50") is not None else m.get("retrieve_ms_p50")
        lines.append(f"| {r['dataset']['name']} | {r['name']} | {m['items']} | "
                     + " | ".join(_fmt(m.get(k)) for k, _ in shown)
                     + f" | {'—' if p50 is None else f'{p50:.0f}'} | {m['failed_items']} |")
    deltas = baseline_deltas(runs)
    if deltas:
        lines += ["", "## Vraagbaak hybrid vs LlamaIndex defaults (nDCG@10)", "",
                  "| dataset | items | LlamaIndex default | Vraagbaak hybrid | difference |", "|---|---|---|---|---|"]
        lines += [f"| {d['dataset']} | {d['items']} | {d['baseline']:.3f} | {d['hybrid']:.3f} | "
                  f"{d['delta']:+.3f} ({d['relative']:+.1f}%) |" for d in deltas]
    for r in runs:
        reasons = Counter(f.split(":")[0] if f.startswith("cited") else f
                          for i in r["items"] for f in (i.get("failures") or []))
        if reasons:
            lines += ["", f"**Why items failed — {label(r)}:** "
                      + "; ".join(f"{why} ({n})" for why, n in reasons.most_common())]
    return "\n".join(lines) + "\n"


_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1180px;color:#222}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:2px 5px;text-align:left;font-size:12px}.scroll{overflow-x:auto}
th{background:#f0f0f0}img{max-width:100%;border:1px solid #ddd;margin:.4em 0}.fail{color:#a00}
details{margin:.3em 0}blockquote{margin:.2em 0 .4em 1em;color:#444;font-size:12px;border-left:3px solid #ccd;padding-left:.6em}"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<div class='scroll'><table><tr>{head}</tr>{body}</table></div>"


def render_html(runs: Sequence[dict], images: dict[str, bytes]) -> str:
    e = html.escape
    shown = [(key, name) for key, name in METRICS if any(r["metrics"].get(key) is not None for r in runs)]
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Vraagbaak evaluation</title>"
             f"<style>{_CSS}</style></head><body><h1>Vraagbaak evaluation report</h1>"]
    parts.append("<h2>Runs</h2>" + _table(
        ["dataset", "configuration", "retriever", "k", "generator", "items", *[n for _, n in shown], "failed",
         "code", "dataset hash"],
        [[r["dataset"]["name"], r["name"], r["config"]["retriever"], r["config"]["k"], r["config"]["generator"],
          r["metrics"]["items"], *[r["metrics"].get(k) for k, _ in shown], r["metrics"]["failed_items"],
          str(r.get("code_version", {}).get("commit", "unknown"))[:10]
          + (" (dirty)" if r.get("code_version", {}).get("dirty") else ""), r["dataset"]["hash"]] for r in runs]))
    deltas = baseline_deltas(runs)
    if deltas:
        parts.append("<h2>Vraagbaak hybrid vs LlamaIndex defaults</h2><p>LlamaIndex <code>VectorStoreIndex</code> "
                     "with its default SentenceSplitter, SimpleVectorStore and retriever on the same embedding "
                     "model; documents ranked by their best chunk.</p>" + _table(
                         ["dataset", "items", "LlamaIndex default nDCG@10", "Vraagbaak hybrid nDCG@10",
                          "difference", "relative"],
                         [[d["dataset"], d["items"], d["baseline"], d["hybrid"], f"{d['delta']:+.3f}",
                           f"{d['relative']:+.1f}%"] for d in deltas]))
    titles = {"metrics": "Metrics per configuration", "per-dataset": "Retrievers per dataset", "per-language": "Per language",
              "per-doc_type": "Per document type", "latency": "Latency"}
    for name, png in images.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<h2>{e(titles.get(name, name))}</h2><img alt='{e(name)}' src='data:image/png;base64,{data}'>")
    for field, title in (("language", "language"), ("doc_type", "document type")):
        rows = [[label(r), key, s["items"], s["ndcg_at_10"], s["passed"]]
                for r in runs for key, s in group_scores(r, field).items()]
        parts.append(f"<h3>By {e(title)}</h3>" + _table(["run", title, "items", "nDCG@10", "items passed"], rows))
    parts.append("<h2>Worst items</h2>")
    for r in runs:
        parts.append(f"<h3>{e(label(r))}</h3>")
        for item in worst_items(r):
            passages = "".join(
                f"<blockquote><b>{n}. {e(str(p['doc']))}</b> {e(str(p.get('where') or ''))} "
                f"(score {e(_fmt(p['score']))})<br>{e(str(p['text']))}</blockquote>"
                for n, p in enumerate(item.get("retrieved") or [], start=1))
            answer = f"<p>Answer: {e(item['answer'])}</p>" if item.get("answer") else ""
            parts.append(
                f"<details><summary><code>{e(item['id'])}</code> {e(item['question'])} — "
                f"<span class='fail'>{e(item.get('failure') or 'nDCG@10 ' + _fmt(item.get('ndcg_at_10')))}</span>"
                f"</summary><p>Expected: {e(', '.join(item.get('expected') or []) or 'none (should refuse)')}; "
                f"ranked: {e(', '.join((item.get('ranked_documents') or [])[:5]))}</p>{answer}{passages}</details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(runs: Sequence[dict], out: Path) -> tuple[Path, Path]:
    """report.html (self-contained), the PNGs beside it, and summary.md."""
    out.mkdir(parents=True, exist_ok=True)
    images = plots(runs)
    for name, png in images.items():
        (out / f"{name}.png").write_bytes(png)
    html_path, md_path = out / "report.html", out / "summary.md"
    html_path.write_text(render_html(runs, images), encoding="utf-8")
    md_path.write_text(markdown_summary(runs), encoding="utf-8")
    return html_path, md_path


# -- comparison ----------------------------------------------------------------------------------


def item_changes(run_a: dict, run_b: dict) -> tuple[list[tuple[dict, dict]], list[tuple[dict, dict]]]:
    """(better, worse): items of both runs whose outcome changed — failed ↔ passed, or nDCG@10 moved."""
    before = {i["id"]: i for i in run_a["items"]}
    better, worse = [], []
    for item in run_b["items"]:
        old = before.get(item["id"])
        if old is None:
            continue
        passed_old, passed_new = not old.get("failure"), not item.get("failure")
        ndcg_old, ndcg_new = old.get("ndcg_at_10") or 0.0, item.get("ndcg_at_10") or 0.0
        if passed_new > passed_old or (passed_new == passed_old and ndcg_new > ndcg_old + 1e-9):
            better.append((old, item))
        elif passed_new < passed_old or (passed_new == passed_old and ndcg_new < ndcg_old - 1e-9):
            worse.append((old, item))
    return better, worse


def compare_runs(run_a: dict, run_b: dict) -> str:
    better, worse = item_changes(run_a, run_b)
    shared = len({i["id"] for i in run_a["items"]} & {i["id"] for i in run_b["items"]})
    lines = [f"{label(run_a)} → {label(run_b)}: {shared} items in both, {len(better)} better, {len(worse)} worse"]
    for key, name in METRICS:
        a, b = run_a["metrics"].get(key), run_b["metrics"].get(key)
        if a is not None and b is not None:
            lines.append(f"  {name}: {a:.3f} → {b:.3f} ({b - a:+.3f})")
    for title, changes in (("better", better), ("worse", worse)):
        lines.append(f"{title}:")
        for old, new in changes:
            lines.append(f"  {new['id']} {new['question'][:80]}\n      {old.get('failure') or 'passed'} "
                         f"(nDCG {_fmt(old.get('ndcg_at_10'))}) → {new.get('failure') or 'passed'} "
                         f"(nDCG {_fmt(new.get('ndcg_at_10'))})")
    return "\n".join(lines)
