"""A consistent hash ring of worker urls with virtual nodes.

Each worker sits at many pseudo-random points, so keys spread evenly and a
worker that leaves hands only its own keys to the next points clockwise; every
other key stays where it was. Points come from BLAKE2b, so they are the same in
every process and across restarts (but not the original's BLAKE3 positions).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Mapping
from typing import TypeVar

T = TypeVar("T")

VIRTUAL_NODES = 150


def ring_position(data: bytes) -> int:
    """A 64-bit point on the ring for `data`."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


class HashRing:
    """Worker urls on a ring; lookups walk clockwise to the first eligible one."""

    def __init__(self, virtual_nodes: int = VIRTUAL_NODES) -> None:
        self._vnodes = virtual_nodes
        self._points_by_url: dict[str, list[int]] = {}
        self._points: list[int] = []
        self._owners: list[str] = []

    def __contains__(self, url: object) -> bool:
        return url in self._points_by_url

    def set_members(self, urls: Iterable[str]) -> None:
        """Make the ring hold exactly `urls`; points of kept urls do not move."""
        wanted = set(urls)
        if wanted == self._points_by_url.keys():
            return
        for url in list(self._points_by_url):
            if url not in wanted:
                del self._points_by_url[url]
        for url in wanted - self._points_by_url.keys():
            self._points_by_url[url] = [
                ring_position(f"{url}#{vnode}".encode())
                for vnode in range(self._vnodes)
            ]
        self._rebuild()

    def add(self, urls: Iterable[str]) -> None:
        """Add urls not on the ring yet, keeping the others."""
        missing = [url for url in urls if url not in self._points_by_url]
        if missing:
            self.set_members([*self._points_by_url, *missing])

    def lookup(self, key: bytes, eligible: Mapping[str, T]) -> T | None:
        """The first eligible worker clockwise from the key's point, or None."""
        points = self._points
        if not points:
            return None
        start = bisect.bisect_left(points, ring_position(key))
        owners = self._owners
        count = len(owners)
        for step in range(count):
            found = eligible.get(owners[(start + step) % count])
            if found is not None:
                return found
        return None

    def _rebuild(self) -> None:
        pairs = sorted(
            (point, url)
            for url, points in self._points_by_url.items()
            for point in points
        )
        self._points = [point for point, _ in pairs]
        self._owners = [url for _, url in pairs]
