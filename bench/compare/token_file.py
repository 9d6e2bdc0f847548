"""Random-token data in Horizon's token-file format (docs/token-file.md), so
every engine reads the same tokens: Horizon through `--data FILE`, the
PyTorch engines through read_header() and an offset read of the tokens.
"""
import array
import os
import random
import struct
import sys

MAGIC = b"HZTOKENS"
VERSION = 1
HEADER = struct.Struct("<8sIIQQ")  # magic, version, bytes per token, token count, vocab
assert HEADER.size == 32


class TokenFileError(ValueError):
    pass


def token_width(vocab):
    return 2 if vocab <= 65536 else 4


def random_tokens(count, vocab, seed):
    """`count` tokens uniform in [0, vocab), the same for the same seed on every machine."""
    rng = random.Random(seed)
    typecode = "H" if token_width(vocab) == 2 else "I"
    tokens = array.array(typecode, (rng.randrange(vocab) for _ in range(count)))
    if tokens.itemsize != token_width(vocab):
        raise TokenFileError(f"array typecode {typecode} is {tokens.itemsize} bytes on this platform")
    return tokens


def write_token_file(path, tokens, vocab):
    """Writes `tokens` (an array of uint16 or uint32) atomically: to PATH.tmp, flushed, renamed."""
    if not 1 <= vocab < 2**31:
        raise TokenFileError(f"{path}: vocab {vocab} out of range [1, 2^31)")
    width = token_width(vocab)
    if tokens.itemsize != width:
        raise TokenFileError(f"{path}: tokens are {tokens.itemsize} bytes wide, vocab {vocab} needs {width}")
    if sys.byteorder != "little":
        tokens = array.array(tokens.typecode, tokens)
        tokens.byteswap()
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(HEADER.pack(MAGIC, VERSION, width, len(tokens), vocab))
        tokens.tofile(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_header(path):
    """(bytes per token, token count, vocab) of a token file, validated against its size."""
    with open(path, "rb") as f:
        raw = f.read(HEADER.size)
    if len(raw) < HEADER.size:
        raise TokenFileError(f"{path}: shorter than the 32-byte token-file header")
    magic, version, width, count, vocab = HEADER.unpack(raw)
    if magic != MAGIC:
        raise TokenFileError(f"{path}: not a token file (magic {magic!r}, expected {MAGIC!r})")
    if version != VERSION or width not in (2, 4):
        raise TokenFileError(f"{path}: unsupported version {version} or token width {width}")
    expected = HEADER.size + count * width
    actual = os.path.getsize(path)
    if actual != expected:
        raise TokenFileError(f"{path}: {actual} bytes, the header promises {expected}")
    return width, count, vocab


def ensure_random_token_file(path, count, vocab, seed):
    """Writes the file unless one with the same count and vocab is there (its seed is in its name)."""
    if os.path.exists(path):
        try:
            _, n, v = read_header(path)
            if n == count and v == vocab:
                return path
        except TokenFileError:
            pass
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    write_token_file(path, random_tokens(count, vocab, seed), vocab)
    return path
