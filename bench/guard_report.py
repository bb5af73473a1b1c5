#!/usr/bin/env python3
"""Checks the performance guard: the JSON that bench/guard.sh collects for the base commit and the
working tree (head), each figure's median over the runs, its limit, PASS or FAIL.

    bench/guard_report.py <results dir>   (base/ and head/, each with hot_<run>.json,
                                           e2e_<run>.json, memory_<kind>_<run>.json and
                                           latency_<run>.json; meta.json)
    bench/guard_report.py --self-test     (checks this script's verdicts on made-up results)

Exit status 1 when a limit fails or a guarded figure is missing on head. A figure missing on
base (a benchmark added after it) is reported for head only: its base limit is skipped.
"""
import json
import pathlib
import statistics
import sys
import tempfile

SPDLOG = "spdlog_async_overrun_oldest"
RE_RUN_NOTE = ("A single FAIL on a shared, noisy machine may be noise: run bench/guard.sh again "
               "(GUARD_RUNS=7 for more runs) before acting on it.")


def load(path):
    with open(path) as f:
        return json.load(f)


def runs_of(side, pattern):
    """The JSON documents of one harness on one side, one per run (a failed run left none)."""
    return [load(p) for p in sorted(side.glob(pattern))]


def hot_values(docs, event, sink, threads):
    """Per run: the median per call minus the timer's own share (as docs/performance.md)."""
    values = []
    for doc in docs:
        for b in doc.get("benchmarks", []):
            if b.get("run_type") == "aggregate" or "p50_ns" not in b:
                continue
            if b["run_name"].split("/")[:3] == ["hot", event, sink] and b["threads"] == threads:
                values.append(max(b["p50_ns"] - b.get("clock_ns", 0.0), 0.0))
    return values


def warm(rounds):
    return rounds[1:] if len(rounds) > 1 else rounds


class Side:
    """Every figure of one side (base or head), as lists of per-run values."""

    def __init__(self, directory):
        d = pathlib.Path(directory)
        hot = runs_of(d, "hot_*.json")
        e2e = runs_of(d, "e2e_*.json")
        latency = runs_of(d, "latency_*.json")
        self.values = {}
        for sink in ("noop", "redis", "redis_down", SPDLOG):
            for threads in (1, 4):
                self.values[f"token/{sink}/{threads}"] = hot_values(hot, "token", sink, threads)
        # A process's first round is left out: it warms the fresh server (its stream memory),
        # and came out at half the later rounds' rate in some processes and not others.
        for key in ("sink_1_thread", "sink_4_threads"):
            self.values[f"e2e/{key}"] = [v for doc in e2e for v in warm(doc.get(key, []))]
        for kind in ("stream", "llmcall"):
            self.values[f"memory/{kind}"] = [
                doc["rss_growth_bytes"] / doc["serialized_bytes"]
                for doc in runs_of(d, f"memory_{kind}_*.json")]
        self.values["latency/p99_us"] = [
            r["p99_us"] for doc in latency for r in doc if r["rate"] == 10000]

    def median(self, key):
        v = self.values.get(key) or []
        return statistics.median(v) if v else None


def fmt(value, unit):
    if value is None:
        return "missing"
    if unit == "ns":
        return f"{value:,.0f} ns"
    if unit == "events/s":
        return f"{value:,.0f}/s"
    if unit == "us":
        return f"{value:,.0f} us"
    return f"{value:.2f}x serialized"


def ratio(value, reference):
    if value is None or reference is None:
        return None
    if reference == 0:
        return 1.0 if value == 0 else float("inf")
    return value / reference


# (label, key, unit, limit): head/base ratio limits; "max" caps the ratio, "min" floors it.
AGAINST_BASE = [
    ("token, no-op sink, median per call, 1 thread", "token/noop/1", "ns", ("max", 1.15)),
    ("token, no-op sink, median per call, 4 threads", "token/noop/4", "ns", ("max", 1.15)),
    ("token, RedisSink connected, median per call, 1 thread", "token/redis/1", "ns", ("max", 1.15)),
    ("token, RedisSink connected, median per call, 4 threads", "token/redis/4", "ns",
     ("max", 1.15)),
    ("events/s acknowledged by Redis, 1 producer thread", "e2e/sink_1_thread", "events/s",
     ("min", 0.95)),
    ("events/s acknowledged by Redis, 4 producer threads", "e2e/sink_4_threads", "events/s",
     ("min", 0.95)),
]
# (label, key, unit, limit on head's value, reference key or None, limit text): head only.
HEAD_ONLY = [
    ("memory per buffered event, Redis down, LLM calls of 100 tokens", "memory/stream",
     "x", 1.5, None, "<= 1.5x serialized"),
    ("memory per buffered event, Redis down, llm_call events only", "memory/llmcall",
     "x", 1.5, None, "<= 1.5x serialized"),
    ("emit-to-visible p99 at 10,000 events/s", "latency/p99_us", "us", 2000, None, "< 2 ms"),
    ("token, Redis down, median per call, 4 threads", "token/redis_down/4", "ns", 1.0,
     f"token/{SPDLOG}/4", "<= 1x spdlog async overrun_oldest, 4 threads (head)"),
    ("token, Redis down, median per call, 1 thread", "token/redis_down/1", "ns", 1.5,
     "token/redis/1", "<= 1.5x connected, 1 thread (head)"),
]


def evaluate(base, head):
    """Rows (label, base, head, reference text, ratio text, limit text, verdict)."""
    rows = []
    for label, key, unit, (kind, limit) in AGAINST_BASE:
        b, h = base.median(key), head.median(key)
        r = ratio(h, b)
        if h is None:
            verdict = "FAIL (missing on head)"
        elif b is None:
            verdict = "SKIP (missing on base)"
        elif kind == "max":
            verdict = "PASS" if r <= limit else "FAIL"
        else:
            verdict = "PASS" if r >= limit else "FAIL"
        limit_text = f"{'<=' if kind == 'max' else '>='} {limit:.2f}x base"
        rows.append((label, fmt(b, unit), fmt(h, unit), "base",
                     "" if r is None else f"{r:.2f}x", limit_text, verdict))
    for label, key, unit, limit, ref_key, limit_text in HEAD_ONLY:
        b, h = base.median(key), head.median(key)
        if ref_key is None:
            reference, value, ref_text = None, h, ""
            ok = h is not None and (h < limit if unit == "us" else h <= limit)
            r_text = ""
        else:
            reference = head.median(ref_key)
            value = ratio(h, reference)
            ref_text = f"{fmt(reference, unit)} (head)"
            ok = value is not None and value <= limit
            r_text = "" if value is None else f"{value:.2f}x"
        if h is None or (ref_key is not None and reference is None):
            verdict = "FAIL (missing on head)"
        else:
            verdict = "PASS" if ok else "FAIL"
        rows.append((label, fmt(b, unit), fmt(h, unit), ref_text, r_text, limit_text, verdict))
    return rows


def render(rows, base, head, meta):
    out = []
    if meta:
        out.append(f"base {meta.get('base', '?')}, head {meta.get('head', '?')}; "
                   f"{meta.get('runs', '?')} runs per figure, base and head interleaved; "
                   f"load average before {meta.get('load_before', '?')}, "
                   f"after {meta.get('load_after', '?')}")
        out.append("")
    out.append("Medians over the runs; per-call figures have the timer's own share subtracted.")
    out.append("")
    out.append("| figure | base | head | reference | ratio | limit | verdict |")
    out.append("|---|---:|---:|---|---:|---|---|")
    for row in rows:
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append("Runs (base / head):")
    for key in sorted(head.values):
        b = ", ".join(f"{v:.4g}" for v in base.values.get(key, []))
        h = ", ".join(f"{v:.4g}" for v in head.values[key])
        out.append(f"  {key}: {b or '-'} / {h or '-'}")
    failed = [r for r in rows if r[-1].startswith("FAIL")]
    out.append("")
    if failed:
        out.append(f"GUARD FAILED: {len(failed)} of {len(rows)} limits. {RE_RUN_NOTE}")
    else:
        skipped = sum(1 for r in rows if r[-1].startswith("SKIP"))
        out.append(f"GUARD PASSED: {len(rows) - skipped} of {len(rows)} limits"
                   + (f" ({skipped} skipped: missing on base)." if skipped else "."))
    return "\n".join(out), not failed


def check(results):
    """The report's text and whether the guard held."""
    results = pathlib.Path(results)
    base, head = Side(results / "base"), Side(results / "head")
    meta = load(results / "meta.json") if (results / "meta.json").exists() else {}
    return render(evaluate(base, head), base, head, meta)


def main(results):
    text, ok = check(results)
    print(text)
    return 0 if ok else 1


def write_side(directory, p50, e2e_rate, memory_ratio, p99_us, with_redis_down=True):
    """Made-up results for the self-test, in the harnesses' formats."""
    directory.mkdir(parents=True)
    benchmarks = []
    for (sink, threads), value in p50.items():
        if sink == "redis_down" and not with_redis_down:
            continue
        benchmarks.append({"run_name": f"hot/token/{sink}/iterations:1/manual_time/"
                                       f"threads:{threads}", "run_type": "iteration",
                           "threads": threads, "p50_ns": value + 20.0, "clock_ns": 20.0})
    for run in (1, 2, 3):
        (directory / f"hot_{run}.json").write_text(json.dumps({"benchmarks": benchmarks}))
        (directory / f"e2e_{run}.json").write_text(json.dumps(
            {"sink_1_thread": [1.0, e2e_rate * run / 2], "sink_4_threads": [e2e_rate]}))
        for kind in ("stream", "llmcall"):
            (directory / f"memory_{kind}_{run}.json").write_text(json.dumps(
                {"rss_growth_bytes": memory_ratio * 1000, "serialized_bytes": 1000}))
        (directory / f"latency_{run}.json").write_text(json.dumps(
            [{"rate": 1000, "p99_us": 99999}, {"rate": 10000, "p99_us": p99_us}]))


def self_test():
    p50 = {("noop", 1): 40, ("noop", 4): 40, ("redis", 1): 70, ("redis", 4): 70,
           ("redis_down", 1): 70, ("redis_down", 4): 100, (SPDLOG, 1): 180, (SPDLOG, 4): 230}
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        write_side(root / "ok/base", p50, 400000, 1.3, 600, with_redis_down=False)
        write_side(root / "ok/head", {**p50, ("noop", 1): 46}, 390000, 1.4, 1900)
        rows = {r[0]: r for r in evaluate(Side(root / "ok/base"), Side(root / "ok/head"))}
        verdicts = [r[-1] for r in rows.values()]
        assert all(v in ("PASS", "SKIP (missing on base)") for v in verdicts), verdicts
        assert rows["token, no-op sink, median per call, 1 thread"][4] == "1.15x"
        # Median over runs 200,000 / 400,000 / 600,000 and 195,000 / ...: 0.975x (the first,
        # warm-up round of each process left out).
        assert rows["events/s acknowledged by Redis, 1 producer thread"][4] == "0.97x"
        down4 = rows["token, Redis down, median per call, 4 threads"]
        assert down4[1] == "missing" and down4[-1] == "PASS" and down4[4] == "0.43x", down4
        assert check(root / "ok")[1]

        slow = {**p50, ("redis", 4): 81, ("redis_down", 4): 231, ("redis_down", 1): 106}
        write_side(root / "bad/base", p50, 400000, 1.3, 600)
        write_side(root / "bad/head", slow, 379000, 1.51, 2000)
        rows = {r[0]: r[-1] for r in evaluate(Side(root / "bad/base"), Side(root / "bad/head"))}
        assert rows == {
            "token, no-op sink, median per call, 1 thread": "PASS",
            "token, no-op sink, median per call, 4 threads": "PASS",
            "token, RedisSink connected, median per call, 1 thread": "PASS",
            "token, RedisSink connected, median per call, 4 threads": "FAIL",
            "events/s acknowledged by Redis, 1 producer thread": "FAIL",
            "events/s acknowledged by Redis, 4 producer threads": "FAIL",
            "memory per buffered event, Redis down, LLM calls of 100 tokens": "FAIL",
            "memory per buffered event, Redis down, llm_call events only": "FAIL",
            "emit-to-visible p99 at 10,000 events/s": "FAIL",
            "token, Redis down, median per call, 4 threads": "FAIL",
            "token, Redis down, median per call, 1 thread": "FAIL",
        }, rows
        text, ok = check(root / "bad")
        assert not ok and "GUARD FAILED: 8 of 11 limits" in text, text

        # A guarded figure missing on head fails; the same figure missing on base skips.
        write_side(root / "gone/base", p50, 400000, 1.3, 600)
        write_side(root / "gone/head", p50, 400000, 1.3, 600, with_redis_down=False)
        rows = {r[0]: r[-1] for r in evaluate(Side(root / "gone/base"), Side(root / "gone/head"))}
        assert rows["token, Redis down, median per call, 1 thread"] == "FAIL (missing on head)"
        assert not check(root / "gone")[1]
    print("guard_report.py self-test: ok")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0)
    if len(sys.argv) == 2 and sys.argv[1] == "--self-test":
        sys.exit(self_test())
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
