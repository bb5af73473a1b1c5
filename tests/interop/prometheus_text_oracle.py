#!/usr/bin/env python3
"""Reads a Prometheus text document with prometheus_client's parser (Debian's
python3-prometheus-client) and checks every sample against the expectations the C++ test
wrote: name, labels and the value's exact bits. Exit 0 when all match, else 1 with the first
difference on stderr.

    prometheus_text_oracle.py METRICS_FILE EXPECTED_JSON
"""
import json
import math
import struct
import sys

from prometheus_client.parser import text_string_to_metric_families


def value_of(bits_hex):
    return struct.unpack(">d", bytes.fromhex(bits_hex))[0]


def same(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return struct.pack(">d", a) == struct.pack(">d", b)


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
        if name != want["name"] or labels != want["labels"] or not same(value, want_value):
            print(f"sample {i}: parsed {name!r} {labels!r} {value!r}, expected "
                  f"{want['name']!r} {want['labels']!r} {want_value!r}", file=sys.stderr)
            return 1
    for name, kind in expected["types"].items():
        if types.get(name) != kind:
            print(f"family {name}: type {types.get(name)!r}, expected {kind!r}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
