#!/usr/bin/env python3
"""Validates the texts json_schema_test generated against their schemas with the `jsonschema`
package (the reference validator): each input line is {"schema": ..., "text": "..."}; the text
must parse as JSON and be valid. Prints the first failure and exits 1; 0 when all are valid."""
import json
import sys

import jsonschema


def main() -> int:
    n = 0
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            case = json.loads(line)
            try:
                value = json.loads(case["text"])
            except ValueError as e:
                print(f"not JSON: {case['text']!r}: {e}")
                return 1
            cls = jsonschema.validators.validator_for(case["schema"], jsonschema.Draft202012Validator)
            errors = list(cls(case["schema"]).iter_errors(value))
            if errors:
                print(f"invalid: {case['text']!r} against {json.dumps(case['schema'])}: {errors[0].message}")
                return 1
            n += 1
    print(f"{n} texts valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
