#!/usr/bin/env python3
"""Checks json_regex_test's verdicts against Python's `re` (what the `jsonschema` package matches
a pattern with: re.search): each input line is {"pattern": ..., "text": ..., "match": bool}, the
texts drawn from characters on which ECMA-262 and Python agree (no line ends: their '.' and '$'
differ there). Prints the first disagreement and exits 1; 0 when all agree."""
import json
import re
import sys


def main() -> int:
    n = 0
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            case = json.loads(line)
            want = re.search(case["pattern"], case["text"]) is not None
            if want != case["match"]:
                print(f"pattern {case['pattern']!r} on {case['text']!r}: ours {case['match']}, "
                      f"Python's re {want}")
                return 1
            n += 1
    print(f"{n} verdicts agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
