#!/usr/bin/env python3
"""Prints a soak run's RSS curve from its CSV and judges it: exit 1 if the average RSS of the last
third of the samples taken after the warm-up exceeds that of the first third by more than 20 %.
Usage: analyse.py CSV [WARMUP_SECONDS]"""
import csv
import sys

path = sys.argv[1]
warmup = int(sys.argv[2]) if len(sys.argv) > 2 else 0
rows = [(int(r["seconds"]), int(r["rss_kib"]), int(r["data_kib"])) for r in csv.DictReader(open(path))]
top = max(r[1] for r in rows)
print("| s | RSS MiB | data MiB | |")
print("| --- | --- | --- | --- |")
for s, rss, data in rows:
    mark = " (warm-up)" if s < warmup else ""
    print(f"| {s}{mark} | {rss/1024:.1f} | {data/1024:.1f} | {'#' * round(40 * rss / top)} |")


def growth(samples):
    third = len(samples) // 3
    first = sum(r[1] for r in samples[:third]) / third
    last = sum(r[1] for r in samples[-third:]) / third
    return first, last, (last - first) / first * 100


if len(rows) >= 3:
    first, last, g = growth(rows)
    print(f"all samples: first third {first/1024:.1f} MiB, last third {last/1024:.1f} MiB, growth {g:+.1f} %")
judged = [r for r in rows if r[0] >= warmup]
if len(judged) < 3:
    sys.exit(f"too few samples after the {warmup} s warm-up: run longer")
first, last, g = growth(judged)
print(f"after the {warmup} s warm-up: first third {first/1024:.1f} MiB, last third {last/1024:.1f} MiB, growth {g:+.1f} %")
if g > 20:
    sys.exit("FAIL: memory grows by more than 20 % under steady load")
print("OK: memory flat within 20 %")
