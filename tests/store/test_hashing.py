"""File hashes: prefetched in a thread or computed on the spot, always of the current content."""

from __future__ import annotations

import hashlib
from pathlib import Path

from iotnotice.store.hashing import file_sha256, prefetch


def test_prefetched_hash_equals_hashlib_and_empty_file(tmp_path: Path) -> None:
    """A prefetched hash is the file's SHA-256; an empty file hashes like empty bytes."""
    data = bytes(range(256)) * 200_000  # 51 MB: several slices
    big = tmp_path / "big.pcap"
    big.write_bytes(data)
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    prefetch([big, empty, tmp_path / "missing.pcap", tmp_path])
    assert file_sha256(big) == hashlib.sha256(data).hexdigest()
    assert file_sha256(empty) == hashlib.sha256(b"").hexdigest()


def test_file_changed_after_prefetch_is_hashed_again(tmp_path: Path) -> None:
    """A file that grew after its hash was prefetched gets the hash of its new content."""
    path = tmp_path / "rotating.pcap"
    path.write_bytes(b"a" * 1000)
    prefetch([path])
    with path.open("ab") as fh:
        fh.write(b"b" * 10)
    assert file_sha256(path) == hashlib.sha256(b"a" * 1000 + b"b" * 10).hexdigest()
