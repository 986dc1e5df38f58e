"""Materialized paths of the invitation tree, as bytes (no models here).

A member's path is the ids from the root of their tree down to themselves, each packed
as 4 big-endian bytes, so a path is prefix-free per level: the branch under X is every
path that starts with X's path, which is one range ``[path, successor(path))`` in any
byte-ordered index (SQLite BLOB, PostgreSQL bytea — no collation involved).

The first ``INDEXED_BYTES`` of a path are stored in the indexed column
``Member.tree_path``; the rest (only below depth ``INDEXED_BYTES / 4``) in
``Member.tree_path_overflow``. PostgreSQL refuses B-tree entries above ~2.7 kB, and a
path at depth 10,000 is 40 kB.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ID_BYTES = 4
# 256 levels in the indexed column; real invitation trees are a few dozen deep.
INDEXED_BYTES = 1024
# Ids must fit the fixed width (4,294,967,295 members).
MAX_ID = 2 ** (8 * ID_BYTES) - 1


@dataclass(frozen=True)
class StoredPath:
    """A path split the way the two columns hold it."""

    indexed: bytes
    overflow: bytes


def child_path(parent_path: bytes, member_id: int) -> bytes:
    if not 0 < member_id <= MAX_ID:
        raise ValueError(f"member id {member_id} does not fit a tree path")
    return parent_path + member_id.to_bytes(ID_BYTES, "big")


def split_path(path: bytes) -> StoredPath:
    return StoredPath(indexed=path[:INDEXED_BYTES], overflow=path[INDEXED_BYTES:])


def path_ids(path: bytes) -> list[int]:
    """The ids on a path, root first."""
    return list(struct.unpack(f">{len(path) // ID_BYTES}I", path))


def successor(prefix: bytes) -> bytes | None:
    """The smallest byte string above every string that starts with ``prefix``
    (None: there is none, every string from ``prefix`` up qualifies)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])
