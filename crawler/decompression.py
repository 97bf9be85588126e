"""Content-Encoding, undone in bounded steps, so the size cap counts what the response inflates to.

A gzip bomb is small on the wire: 1 GiB of zeros is 1 MB gzipped, and gzipped again 2 KB. A
decoder that inflates each received chunk whole (httpx's does) holds the inner layer in memory
before any cap can look at it. Here every layer inflates at most `PIECE` bytes per call and hands
them on at once, so the caller sees the decoded size grow piece by piece, whatever the stacking,
and can stop. More than `MAX_LAYERS` stacked codings is refused: no honest server sends that.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

from crawler.errors import ContentEncodingError

PIECE = 64 * 1024  # the most one layer inflates per step
MAX_LAYERS = 2  # `gzip, gzip` happens (a proxy compressing again); three is an attack
SUPPORTED = ("gzip", "x-gzip", "deflate")  # what we ask for in Accept-Encoding


class _Layer:
    """One coding's inflater; gzip may hold several members one after the other (RFC 1952)."""

    def __init__(self, coding: str, url: str) -> None:
        self.coding, self.url = coding, url
        self._wbits = zlib.MAX_WBITS if coding == "deflate" else 16 + zlib.MAX_WBITS
        self._z = zlib.decompressobj(self._wbits)
        self._fresh = True  # nothing inflated yet: a headerless deflate can still be recognised

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            try:
                out = self._z.decompress(data, PIECE)
            except zlib.error as e:
                if self.coding == "deflate" and self._fresh and self._wbits > 0:
                    # some servers send raw deflate without the zlib header RFC 9110 asks for
                    self._wbits = -zlib.MAX_WBITS
                    self._z = zlib.decompressobj(self._wbits)
                    continue
                raise ContentEncodingError(self.url, f"the {self.coding} body is corrupt ({e})") from None
            self._fresh = False
            if out:
                yield out
            data = self._z.unconsumed_tail
            if not data and self._z.eof:
                data = self._next_member(self._z.unused_data)

    def _next_member(self, rest: bytes) -> bytes:
        """After a gzip member another may follow; trailing zero padding is ignored."""
        if self.coding == "deflate" or not rest.strip(b"\0"):
            return b""
        self._z = zlib.decompressobj(self._wbits)
        return rest

    def flush(self) -> bytes:
        return self._z.flush()


class Decompressor:
    """``d = Decompressor(headers['content-encoding'], url)``; ``for piece in d.feed(raw): ...``;
    then ``d.flush()``. Each yielded piece is at most `PIECE` bytes."""

    def __init__(self, content_encoding: str | None, url: str = "") -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        unknown = [c for c in codings if c not in SUPPORTED]
        if unknown:
            raise ContentEncodingError(url, f"Content-Encoding {', '.join(unknown)} is not one we asked for "
                                           "(gzip, deflate)")
        if len(codings) > MAX_LAYERS:
            raise ContentEncodingError(url, f"{len(codings)} stacked Content-Encodings ({content_encoding}); "
                                           f"at most {MAX_LAYERS} are accepted")
        # the last coding named was applied last, so it comes off first
        self._layers = [_Layer("gzip" if c == "x-gzip" else c, url) for c in reversed(codings)]

    def feed(self, raw: bytes) -> Iterator[bytes]:
        """The decoded pieces of one received chunk, produced lazily, layer by layer."""
        return self._through(0, (raw,))

    def flush(self) -> Iterator[bytes]:
        """What the layers still hold at the end of the body."""
        for i, layer in enumerate(self._layers):
            yield from self._through(i + 1, (layer.flush(),))

    def _through(self, start: int, pieces: Iterable[bytes]) -> Iterator[bytes]:
        for layer in self._layers[start:]:
            pieces = _chain(layer, pieces)
        for piece in pieces:
            if piece:
                yield piece


def _chain(layer: _Layer, pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from layer.feed(piece)
