#!/usr/bin/env python3
"""Tables where a test run's time goes, from `go test -json` output.

    go test -json -count=1 ./integration/ > /tmp/suite.json
    python3 scripts/test-times.py /tmp/suite.json [-n 25] [--subtests]

Prints the slowest top-level tests (and, with --subtests, subtests), their
result, and per package the wall time next to the sum of the test times: with
t.Parallel the sum exceeds the wall time by the parallelism actually reached.
Then the output of every failed test. Reads standard input when no file is
named.
"""
import argparse
import json
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file", nargs="?", help="go test -json output (default: stdin)")
    ap.add_argument("-n", type=int, default=25, help="rows to print (0: all)")
    ap.add_argument("--subtests", action="store_true", help="list subtests as well")
    args = ap.parse_args()
    src = open(args.file) if args.file else sys.stdin
    tests, packages, output = {}, {}, {}
    for line in src:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        action, test, pkg = ev.get("Action"), ev.get("Test"), ev.get("Package", "")
        if action == "output":
            output.setdefault((pkg, test), []).append(ev.get("Output", ""))
        if action not in ("pass", "fail", "skip") or "Elapsed" not in ev:
            continue
        if test:
            tests[(pkg, test)] = (ev["Elapsed"], action)
        else:
            packages[pkg] = (ev["Elapsed"], action)
    rows = [(el, act, pkg, name) for (pkg, name), (el, act) in tests.items()
            if args.subtests or "/" not in name]
    rows.sort(reverse=True)
    if args.n:
        rows = rows[: args.n]
    print("| seconds | result | test |")
    print("|---:|---|---|")
    for el, act, pkg, name in rows:
        print(f"| {el:.1f} | {act} | {pkg.rsplit('/', 1)[-1]}.{name} |")
    print()
    print("| package | wall s | sum of top-level tests s | tests |")
    print("|---|---:|---:|---:|")
    for pkg, (el, act) in sorted(packages.items(), key=lambda kv: -kv[1][0]):
        own = [v[0] for (p, n), v in tests.items() if p == pkg and "/" not in n]
        print(f"| {pkg.rsplit('/', 1)[-1]} ({act}) | {el:.1f} | {sum(own):.1f} | {len(own)} |")


    # Failed tests and subtests, then failed packages (whose own output holds
    # build errors and panics), each with the last 200 lines it printed.
    failed = [key for key, (_, act) in tests.items() if act == "fail"]
    failed += [(pkg, None) for pkg, (_, act) in packages.items() if act == "fail"]
    for pkg, name in failed:
        print(f"\nFAIL {pkg} {name or ''}")
        sys.stdout.write("".join(output.get((pkg, name), [])[-200:]))

if __name__ == "__main__":
    main()
