"""Tables (Markdown) and plots (one PNG per store) from the results of benchmarks/scale.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SAMPLE = 50_000  # records between RSS samples (scale.SAMPLE_EVERY)
ORDER = ("memory", "sqlite", "postgres", "redis", "chroma", "qdrant", "milvus")


def _fmt(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}".replace(",", " ")


def _stores(results: dict[str, Any], kind: str) -> list[str]:
    found = {k.split("/")[1] for k in results if k.startswith(kind + "/")}
    return [s for s in ORDER if s in found]


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def ingest_table(results: dict[str, Any]) -> str:
    rows = []
    for key, r in sorted(results.items(), key=lambda kv: _sort_key(kv[0])):
        if not key.startswith("ingest/"):
            continue
        _, store, n = key.split("/")
        if isinstance(r, str):
            rows.append([store, _fmt(int(n), 0), r, "", "", "", "", "", ""])
            continue
        if "stopped" in r and not r["samples"]:
            rows.append([store, f"under {_fmt(SAMPLE, 0)} of {_fmt(int(n), 0)} ({r['stopped']})"]
                        + ["-"] * 7)
            continue
        if "stopped" in r:  # timed out: what the samples showed until then
            done, secs, _ = r["samples"][-1]
            rss = [x[2] for x in r["samples"]] or [0.0]
            rows.append([
                store, f"{_fmt(done, 0)} of {_fmt(int(n), 0)} ({r['stopped']})",
                _fmt(done / secs, 0), "-", _fmt(rss[0], 0), _fmt(max(rss), 0),
                _fmt(rss[-1], 0), _fmt(rss[-1] - rss[0], 0), "-",
            ])
            continue
        first = r["samples"][0][2]  # RSS after the first 50 000 records (or at the end)
        server = (
            f"{_fmt(r['server_rss_before'], 0)} -> {_fmt(r['server_rss_after'], 0)}"
            if r.get("server_rss_after") is not None else "-"
        )
        rows.append([
            store, _fmt(int(n), 0), _fmt(r["rate"], 0), _fmt(r["start_rss"], 0),
            _fmt(first, 0), _fmt(r["peak_sampled_rss"], 0), _fmt(r["end_rss"], 0),
            _fmt(r["end_rss"] - first, 0), server,
        ])
    return _table(
        ["store", "records", "records/s", "RSS start MB", "RSS at 50k MB", "RSS peak MB",
         "RSS end MB", "end - at 50k MB", "server RSS MB (before -> after)"],
        rows,
    )


def _sort_key(key: str) -> tuple[int, int]:
    parts = key.split("/")
    store = ORDER.index(parts[1]) if parts[1] in ORDER else 99
    return store, int(parts[2]) if len(parts) > 2 else 0


def chat_table(results: dict[str, Any]) -> str:
    rows = []
    for store in _stores(results, "chat"):
        r = results[f"chat/{store}"]
        if isinstance(r, str):
            rows.append([store, r, "", "", "", ""])
            continue
        variants = [(store, r["p50_ms"])]
        if "p50_ms_analyzed" in r:
            variants.append((f"{store}, after ANALYZE", r["p50_ms_analyzed"]))
        for label, p50 in variants:
            lengths = sorted({int(k.split("/")[0]) for k in p50})
            ns = sorted({int(k.split("/")[1]) for k in p50})
            for length in lengths:
                row = [label, _fmt(length, 0)]
                for n in ns:
                    ms = p50[f"{length}/{n}"]
                    row += [_fmt(ms, 2), _fmt(ms / p50[f"{lengths[0]}/{n}"], 2)]
                rows.append(row)
    head = ["store", "session length"]
    for n in (10, 100):
        head += [f"last {n} p50 ms", "x shortest"]
    return _table(head, rows)


def cost_table(results: dict[str, Any]) -> str:
    rows = []
    for key, r in sorted(results.items(), key=lambda kv: _sort_key(kv[0])):
        if not key.startswith("cost/"):
            continue
        _, store, n = key.split("/")
        if isinstance(r, str):
            rows.append([store, _fmt(int(n), 0), r] + [""] * 8)
            continue
        base = results.get(f"cost/{store}/{min(_sizes(results, store))}")
        rows.append([
            store, _fmt(int(n), 0), _fmt(r["rate"], 0), _fmt(r["first_query_s"], 2),
            _fmt(r["unfiltered_p50_ms"], 1),
            _fmt(r["unfiltered_p50_ms"] / base["unfiltered_p50_ms"], 2),
            _fmt(r["unfiltered_recall"], 3), _fmt(r["filtered_p50_ms"], 1),
            _fmt(r["filtered_p50_ms"] / base["filtered_p50_ms"], 2),
            _fmt(r["filtered_recall"], 3), _fmt(r.get("load_avg"), 0),
        ])
    return _table(
        ["store", "N", "ingest records/s", "first query s", "top-10 p50 ms", "x smallest N",
         "recall@10", "filtered p50 ms", "x smallest N", "filtered recall@10", "load avg"],
        rows,
    )


def _sizes(results: dict[str, Any], store: str) -> list[int]:
    return [
        int(k.split("/")[2]) for k, v in results.items()
        if k.startswith(f"cost/{store}/") and not isinstance(v, str)
    ]


def plot(results: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    def count(x: float, _: object) -> str:
        return f"{x / 1e6:g}M" if x >= 1e6 else f"{x / 1e3:g}k" if x >= 1e3 else f"{x:g}"

    def number(x: float, _: object) -> str:
        return f"{x:g}"

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for store in _stores(results, "cost"):
        sizes = sorted(_sizes(results, store))
        if not sizes:
            continue
        rs = [results[f"cost/{store}/{n}"] for n in sizes]
        streamed = sorted(
            (int(k.split("/")[2]), v["rate"]) for k, v in results.items()
            if k.startswith(f"ingest/{store}/") and isinstance(v, dict) and "rate" in v
        )
        fig, (left, right) = plt.subplots(1, 2, figsize=(7, 2.8), dpi=80)
        left.plot(sizes, [r["unfiltered_p50_ms"] for r in rs], "o-", label="top-10")
        left.plot(sizes, [r["filtered_p50_ms"] for r in rs], "s--", label="filtered top-10")
        left.set(xscale="log", yscale="log", xlabel="records (N)", ylabel="p50 ms",
                 title=f"{store}: query latency")
        left.legend(fontsize=7)
        right.plot(sizes, [r["rate"] for r in rs], "o-", color="tab:green", label="cost run")
        if streamed:
            right.plot(*zip(*streamed, strict=True), "D", color="tab:purple",
                       label="streaming ingest run")
        right.legend(fontsize=7)
        right.set(xscale="log", xlabel="records (N)", ylabel="records/s",
                  title=f"{store}: ingest rate")
        right.set_ylim(bottom=0)
        left.yaxis.set_major_formatter(FuncFormatter(number))
        left.yaxis.set_minor_formatter(NullFormatter())
        for ax in (left, right):
            ax.xaxis.set_major_formatter(FuncFormatter(count))
            ax.grid(True, which="both", alpha=0.3)
            ax.tick_params(labelsize=7)
        fig.tight_layout()
        path = out / f"scale-{store}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def report(results: dict[str, Any], plots: Path | None) -> int:
    if not results:
        print("no results yet: run the ingest, chat or cost commands first")
        return 1
    print("## Streaming ingest\n")
    print(ingest_table(results))
    print("\n## Last N chat messages against session length\n")
    print(chat_table(results))
    print("\n## Cost against N\n")
    print(cost_table(results))
    if plots is not None:
        for path in plot(results, plots):
            print(f"\nwrote {path} ({path.stat().st_size // 1024} KB)")
    return 0
