"""Run value_gen cases through one implementation and print {index: sha256 or error class}.

Usage: python differential.py {ours|ref} SEED COUNT
"""

from __future__ import annotations

import hashlib
import json
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
import value_gen  # noqa: E402


def main() -> None:
    side, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if side == "ours":
        from seamless_core import Buffer

        def serialize(value, celltype):
            return Buffer(value, celltype).content
    else:
        from seamless.checksum.serialize import serialize_sync

        def serialize(value, celltype):
            return serialize_sync(value, celltype, use_cache=False)

    results = {}
    for n, (celltype, value) in enumerate(value_gen.cases(seed, count)):
        try:
            results[n] = hashlib.sha256(bytes(serialize(value, celltype))).hexdigest()
        except Exception as exc:
            results[n] = "ERROR " + type(exc).__name__
    print(json.dumps(results))


if __name__ == "__main__":
    main()
