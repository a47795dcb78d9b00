"""A mergeable log-bucket histogram sketch with 1 % relative error (DDSketch-style).

A positive value x falls in bucket ``i = ceil(log(x) / log(gamma))`` with
``gamma = (1 + alpha) / (1 - alpha)``, i.e. in ``(gamma**(i-1), gamma**i]``, and is estimated
as ``2 * gamma**i / (gamma + 1)``: every value in the bucket is within ``alpha`` of that
estimate, relative to itself. Values at or below ``MIN_VALUE`` (zero, and negatives, which
latencies never legitimately are) share one zero bucket estimated as 0.

Counts are kept dense, from the lowest to the highest occupied bucket, in an ``array``:
a latency histogram spans a few hundred buckets. Stored, each count takes the fewest bytes
(1, 2, 4 or 8) that hold the largest one, so a per-minute sketch is a few hundred bytes.
``merge_all`` is the fast path for "p95 over 30 days": it widens every stored sketch to
64-bit lanes of one big integer and adds the integers, which adds every bucket at once in
C (a few microseconds per sketch instead of a Python loop over buckets).
"""

from __future__ import annotations

import math
import struct
import sys
from array import array
from collections.abc import Iterable, Sequence
from operator import add

from prodloop.errors import StoreError, ValidationError

ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)
MIN_VALUE = 1e-9

_INV_LOG_GAMMA = 1.0 / math.log(GAMMA)
_ESTIMATE_FACTOR = 2.0 / (GAMMA + 1.0)

# Wire format, little-endian: format version, bytes per count (1, 2, 4 or 8), zero-bucket
# count, index of the first dense bucket, number of dense buckets; then the dense counts.
_FORMAT_VERSION = 1
_HEADER = struct.Struct("<BBQiI")
_WIDTHS = (1, 2, 4, 8)
_LANE_BITS = 64
_SWAP_BYTES = sys.byteorder != "little"


def bucket_index(value: float) -> int:
    """The bucket a value above MIN_VALUE falls in."""
    return math.ceil(math.log(value) * _INV_LOG_GAMMA)


def bucket_value(index: int) -> float:
    """The estimate every value of bucket `index` is reported as."""
    return float(GAMMA**index * _ESTIMATE_FACTOR)


def quantile_rank(q: float, count: int) -> int:
    """1-based rank of the q-quantile among `count` values: ``ceil(q * count)``, at least 1.

    This is the lower quantile (no interpolation): p95 of 100 values is the 95th smallest.
    A hair is taken off ``q * count`` so that float noise (0.07 * 100 = 7.000000000000001)
    does not push the rank up by one.
    """
    if not 0.0 <= q <= 1.0 or math.isnan(q):
        raise ValidationError(f"a quantile must be between 0 and 1, not {q!r}", field="q")
    return min(count, max(1, math.ceil(q * count - 1e-9)))


class Histogram:
    """Counts of values per log bucket; ``quantile`` answers within ALPHA relative error."""

    __slots__ = ("_counts", "_offset", "_total", "zero_count")

    def __init__(self) -> None:
        self.zero_count = 0
        self._offset = 0  # bucket index of _counts[0]
        self._counts: array[int] = array("Q")
        self._total = 0

    @classmethod
    def of(cls, values: Iterable[float]) -> Histogram:
        """A histogram holding each of `values` once."""
        histogram = cls()
        for value in values:
            histogram.add(value)
        return histogram

    @property
    def count(self) -> int:
        """How many values were added (zero bucket included)."""
        return self._total

    def __len__(self) -> int:
        return self._total

    def __bool__(self) -> bool:
        return self._total > 0

    def add(self, value: float, count: int = 1) -> None:
        """Record `value` `count` times."""
        if count <= 0:
            if count == 0:
                return
            raise ValidationError(f"a count cannot be negative, not {count}", field="count")
        self._total += count
        if not value > MIN_VALUE:  # also catches NaN, which has no place in any bucket
            self.zero_count += count
            return
        index = math.ceil(math.log(value) * _INV_LOG_GAMMA)
        self._cover(index, index)
        self._counts[index - self._offset] += count

    def _cover(self, low: int, high: int) -> None:
        """Grow the dense range so that buckets low..high exist."""
        counts = self._counts
        if not counts:
            self._offset = low
            self._counts = array("Q", bytes(8 * (high - low + 1)))
            return
        first = self._offset
        last = first + len(counts) - 1
        if low < first:
            self._counts = array("Q", bytes(8 * (first - low))) + counts
            self._offset = low
        if high > last:
            self._counts.extend(array("Q", bytes(8 * (high - last))))

    def merge(self, other: Histogram) -> None:
        """Add every value of `other` to this histogram (in place)."""
        if other._total == 0:
            return
        self._total += other._total
        self.zero_count += other.zero_count
        theirs = other._counts
        if not theirs:
            return
        low = other._offset
        self._cover(low, low + len(theirs) - 1)
        start = low - self._offset
        end = start + len(theirs)
        mine = self._counts
        mine[start:end] = array("Q", map(add, mine[start:end], theirs))

    def quantile(self, q: float) -> float | None:
        """Estimate of the value at rank ``ceil(q * count)`` (see quantile_rank); None if empty."""
        if self._total == 0:
            quantile_rank(q, 1)  # still refuse a q outside [0, 1]
            return None
        rank = quantile_rank(q, self._total)
        if rank <= self.zero_count:
            return 0.0
        seen = self.zero_count
        for position, bucket_count in enumerate(self._counts):
            seen += bucket_count
            if seen >= rank:
                return bucket_value(self._offset + position)
        raise AssertionError("bucket counts do not add up to the total")  # pragma: no cover

    def quantiles(self, qs: Sequence[float]) -> list[float | None]:
        """Several quantiles in one pass over the buckets, in the order asked."""
        if self._total == 0:
            return [self.quantile(q) for q in qs]
        ranks = sorted((quantile_rank(q, self._total), i) for i, q in enumerate(qs))
        answers: list[float | None] = [None] * len(qs)
        pending = iter(ranks)
        rank, slot = next(pending, (0, -1))
        seen = self.zero_count
        while slot >= 0 and rank <= seen:
            answers[slot] = 0.0
            rank, slot = next(pending, (0, -1))
        for position, bucket_count in enumerate(self._counts):
            if slot < 0:
                break
            seen += bucket_count
            while slot >= 0 and rank <= seen:
                answers[slot] = bucket_value(self._offset + position)
                rank, slot = next(pending, (0, -1))
        return answers

    def count_above(self, value: float) -> int:
        """How many values are estimated above `value` (e.g. requests slower than a threshold).

        A value counts when its bucket's estimate exceeds `value`, the same estimates
        ``quantile`` reports, so ``quantile(q) > value`` exactly when more than
        ``count - quantile_rank(q, count)`` values are above it.
        """
        if self._total == 0:
            return 0
        if math.isnan(value):
            raise ValidationError("cannot count values above NaN", field="value")
        if value == math.inf:
            return 0
        above = self.zero_count if value < 0.0 else 0
        counts = self._counts
        if not counts:
            return above
        first = self._offset
        # The first bucket whose estimate exceeds `value`, found from the index of `value`
        # and then nudged, since the estimate sits inside its bucket rather than at an end.
        index = bucket_index(value) if value > MIN_VALUE else first
        while index > first and bucket_value(index - 1) > value:
            index -= 1
        while bucket_value(index) <= value:
            index += 1
        start = max(0, index - first)
        return above + sum(counts[start:])

    def buckets(self) -> dict[int, int]:
        """Occupied buckets as {index: count}, the zero bucket left out."""
        offset = self._offset
        return {offset + i: c for i, c in enumerate(self._counts) if c}

    def copy(self) -> Histogram:
        """An independent copy."""
        twin = Histogram()
        twin.zero_count = self.zero_count
        twin._offset = self._offset
        twin._counts = array("Q", self._counts)
        twin._total = self._total
        return twin

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Histogram):
            return NotImplemented
        return (
            self.zero_count == other.zero_count
            and self._total == other._total
            and self.buckets() == other.buckets()
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (
            f"Histogram(count={self._total}, p50={self.quantile(0.5)}, p99={self.quantile(0.99)})"
        )

    def to_bytes(self) -> bytes:
        """Compact binary form: an 18-byte header and the dense counts, each as narrow as fits."""
        counts = self._trimmed_counts()
        largest = max(counts) if counts else 0
        width = next(w for w in _WIDTHS if w == 8 or largest < 1 << (8 * w))
        header = _HEADER.pack(_FORMAT_VERSION, width, self.zero_count, self._offset, len(counts))
        return header + _narrow(_lanes_of(counts), width)

    def _trimmed_counts(self) -> array[int]:
        # add(count=0) never creates buckets and merges only union occupied ranges, so the
        # ends are always occupied; the check keeps the wire format canonical regardless.
        counts = self._counts
        if counts and (counts[0] == 0 or counts[-1] == 0):
            occupied = [i for i, c in enumerate(counts) if c]
            if not occupied:
                self._counts = array("Q")
                return self._counts
            self._offset += occupied[0]
            self._counts = counts[occupied[0] : occupied[-1] + 1]
        return self._counts

    @classmethod
    def from_bytes(cls, data: bytes) -> Histogram:
        """Decode what ``to_bytes`` produced."""
        zero_count, offset, lanes = _decode(data)
        histogram = cls()
        histogram.zero_count = zero_count
        histogram._offset = offset
        histogram._counts = _counts_of(lanes)
        histogram._total = zero_count + sum(histogram._counts)
        return histogram


def _lanes_of(counts: array[int]) -> bytes:
    """Counts as little-endian 8-byte lanes."""
    if _SWAP_BYTES:
        counts = array("Q", counts)
        counts.byteswap()
    return counts.tobytes()


def _counts_of(lanes: bytes) -> array[int]:
    """The counts little-endian 8-byte lanes hold."""
    counts = array("Q")
    counts.frombytes(lanes)
    if _SWAP_BYTES:
        counts.byteswap()
    return counts


def _narrow(lanes: bytes, width: int) -> bytes:
    """Keep the low `width` bytes of every 8-byte lane (the counts must fit)."""
    if width == 8:
        return lanes
    packed = bytearray(len(lanes) // 8 * width)
    for byte in range(width):
        packed[byte::width] = lanes[byte::8]
    return bytes(packed)


def _widen(packed: bytes, width: int) -> bytes:
    """Zero-extend `width`-byte little-endian counts to 8-byte lanes."""
    if width == 8:
        return packed
    lanes = bytearray(len(packed) // width * 8)
    for byte in range(width):
        lanes[byte::8] = packed[byte::width]
    return bytes(lanes)


def _decode(data: bytes) -> tuple[int, int, bytes]:
    """Zero count, first bucket index and 8-byte lanes of an encoded histogram."""
    if len(data) < _HEADER.size:
        raise StoreError(f"corrupt histogram: {len(data)} bytes is shorter than its header")
    version, width, zero_count, offset, length = _HEADER.unpack_from(data)
    if version != _FORMAT_VERSION or width not in _WIDTHS:
        raise StoreError(f"corrupt histogram: unknown format {version}/{width}")
    if len(data) != _HEADER.size + width * length:
        raise StoreError("corrupt histogram: length does not match its header")
    return zero_count, offset, _widen(bytes(data[_HEADER.size :]), width)


def merge_all(encoded: Iterable[bytes]) -> Histogram:
    """One histogram holding every encoded histogram in `encoded` (fast for many)."""
    zero_count = 0
    parts: list[tuple[int, bytes]] = []
    for data in encoded:
        zeros, offset, lanes = _decode(data)
        zero_count += zeros
        if lanes:
            parts.append((offset, lanes))
    merged = Histogram()
    merged.zero_count = merged._total = zero_count
    if not parts:
        return merged
    # Each bucket is a 64-bit lane of one integer, so one integer addition adds every
    # bucket; a lane could only carry into the next past 2**64 values.
    base = min(offset for offset, _ in parts)
    total = 0
    for offset, lanes in parts:
        total += int.from_bytes(lanes, "little") << (_LANE_BITS * (offset - base))
    lane_bytes = _LANE_BITS // 8
    merged._counts = _counts_of(
        total.to_bytes(-(-total.bit_length() // _LANE_BITS) * lane_bytes, "little")
    )
    merged._offset = base
    merged._total += sum(merged._counts)
    return merged
