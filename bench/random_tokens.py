"""Writes N uniformly random tokens of a 32000 vocabulary (seed 1) in the
documented token-file format (docs/token-file.md): the benchmarks' data.
Usage: python3 bench/random_tokens.py PATH [N]"""
import struct
import sys

import numpy as np


def main():
    path = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 64 << 20
    toks = np.random.default_rng(1).integers(0, 32000, size=count, dtype=np.uint16)
    with open(path, "wb") as f:
        f.write(b"HZTOKENS" + struct.pack("<IIQQ", 1, 2, toks.size, 32000))
        f.write(toks.tobytes())


if __name__ == "__main__":
    main()
