#!/usr/bin/env python3
"""Reads a Prometheus text document with prometheus_client's parser (Debian's
python3-prometheus-client) and checks every sample against the expectations the C++ test
wrote: name, labels (given as raw bytes, decoded here with one U+FFFD per byte that is not
part of a valid character) and the value's exact bits. Then what neither this parser nor
promtool checks: each family's lines together, no series twice, and per histogram label set
ascending `le` bounds, cumulative counts, a +Inf bucket equal to _count, and a _sum. Exit 0
when all hold, else 1 with the first problem on stderr.

    prometheus_text_oracle.py METRICS_FILE EXPECTED_JSON
"""
import codecs
import json
import math
import struct
import sys

# One replacement per byte, resuming at the next byte (Python's own "replace" handler replaces
# a maximal invalid subpart at once).
codecs.register_error("one_per_byte", lambda e: ("\ufffd", e.start + 1))

from prometheus_client.parser import text_string_to_metric_families


def value_of(bits_hex):
    return struct.unpack(">d", bytes.fromhex(bits_hex))[0]


def same(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return struct.pack(">d", a) == struct.pack(">d", b)


def decoded(labels):
    return {k: bytes.fromhex(v).decode("utf-8", "one_per_byte") for k, v in labels.items()}


def check_layout(text):
    """Family lines together, no series twice, histograms consistent. Returns a problem or None."""
    seen_families = set()
    current = None
    series = set()
    for line in text.split("\n"):  # not splitlines(): a label value may hold \r or U+2028
        if line.startswith("# TYPE "):
            name = line.split(" ")[2]
            if name in seen_families:
                return f"family {name} written twice"
            seen_families.add(name)
            current = name
            continue
        if not line or line.startswith("#"):
            continue
        sample = line.split("{")[0].split(" ")[0]
        if current is None or not sample.startswith(current):
            return f"sample {sample} outside its family (current: {current})"
        key = line.rsplit(" ", 1)[0]
        if key in series:
            return f"series {key} twice"
        series.add(key)
    histograms = {}
    for family in text_string_to_metric_families(text):
        if family.type != "histogram":
            continue
        for s in family.samples:
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            h = histograms.setdefault((family.name, labels),
                                      {"buckets": [], "count": None, "sum": None})
            if s.name.endswith("_bucket"):
                h["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                h["count"] = s.value
            elif s.name.endswith("_sum"):
                h["sum"] = s.value
    for (name, labels), h in histograms.items():
        bounds = [b for b, _ in h["buckets"]]
        counts = [c for _, c in h["buckets"]]
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            return f"histogram {name} {labels}: bounds not ascending: {bounds}"
        if counts != sorted(counts):
            return f"histogram {name} {labels}: counts not cumulative: {counts}"
        if not bounds or bounds[-1] != math.inf or counts[-1] != h["count"]:
            return f"histogram {name} {labels}: +Inf bucket missing or not _count"
        if h["sum"] is None:
            return f"histogram {name} {labels}: no _sum"
    return None


def main():
    with open(sys.argv[1], "rb") as f:
        text = f.read().decode("utf-8")  # strict: the document must be UTF-8
    with open(sys.argv[2], encoding="utf-8") as f:
        expected = json.load(f)
    parsed = []
    types = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for s in family.samples:
            parsed.append((s.name, s.labels, s.value))
    if len(parsed) != len(expected["samples"]):
        print(f"{len(parsed)} samples parsed, {len(expected['samples'])} expected", file=sys.stderr)
        return 1
    for i, ((name, labels, value), want) in enumerate(zip(parsed, expected["samples"])):
        want_value = value_of(want["bits"])
        want_labels = decoded(want["labels"])
        if name != want["name"] or labels != want_labels or not same(value, want_value):
            print(f"sample {i}: parsed {name!r} {labels!r} {value!r}, expected "
                  f"{want['name']!r} {want_labels!r} {want_value!r}", file=sys.stderr)
            return 1
    for name, kind in expected["types"].items():
        if types.get(name) != kind:
            print(f"family {name}: type {types.get(name)!r}, expected {kind!r}", file=sys.stderr)
            return 1
    problem = check_layout(text)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
