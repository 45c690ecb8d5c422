"""A minimal TensorBoard event-file writer for scalars (no tensorflow/tensorboard dependency).

Format: TFRecord framing (length, masked CRC32C, payload, masked CRC32C) of ``Event`` protobufs,
encoded by hand: Event{wall_time=1 double, step=2 int64, file_version=3 string, summary=5}, with
Summary{value=1 repeated Value{tag=1 string, simple_value=2 float}}.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path

_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field_bytes(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, file_version: str | None = None, values: dict[str, float] | None = None) -> bytes:
    msg = _varint(1 << 3 | 1) + struct.pack("<d", wall_time) + _varint(2 << 3 | 0) + _varint(step)
    if file_version is not None:
        msg += _field_bytes(3, file_version.encode())
    if values:
        summary = b"".join(
            _field_bytes(1, _field_bytes(1, tag.encode()) + _varint(2 << 3 | 5) + struct.pack("<f", float(v)))
            for tag, v in values.items()
        )
        msg += _field_bytes(5, summary)
    return msg


def _record(payload: bytes) -> bytes:
    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", _masked(crc32c(header))) + payload + struct.pack("<I", _masked(crc32c(payload)))


class ScalarWriter:
    """Appends scalar events to ``events.out.tfevents.<time>.<host>`` in ``logdir``."""

    def __init__(self, logdir: str | os.PathLike) -> None:
        Path(logdir).mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}"
        self.path = Path(logdir) / name
        self._f = open(self.path, "ab")
        self._f.write(_record(_event(time.time(), 0, file_version="brain.Event:2")))
        self._f.flush()

    def scalars(self, step: int, values: dict[str, float]) -> None:
        self._f.write(_record(_event(time.time(), step, values=values)))
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def read_scalars(path: str | os.PathLike) -> list[tuple[int, dict[str, float]]]:
    """Parse an event file written by :class:`ScalarWriter` (checks every CRC); for tests and reports."""
    data = Path(path).read_bytes()
    out, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        (hcrc,) = struct.unpack_from("<I", data, pos + 8)
        if hcrc != _masked(crc32c(data[pos : pos + 8])):
            raise ValueError(f"bad length CRC at byte {pos}")
        payload = data[pos + 12 : pos + 12 + n]
        (pcrc,) = struct.unpack_from("<I", data, pos + 12 + n)
        if pcrc != _masked(crc32c(payload)):
            raise ValueError(f"bad payload CRC at byte {pos}")
        pos += 16 + n
        step, values = _parse_event(payload)
        if values:
            out.append((step, values))
    return out


def _read_varint(b: bytes, i: int) -> tuple[int, int]:
    shift = val = 0
    while True:
        c = b[i]
        i += 1
        val |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return val, i


def _fields(b: bytes):
    i = 0
    while i < len(b):
        key, i = _read_varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _read_varint(b, i)
        elif wt == 1:
            v, i = b[i : i + 8], i + 8
        elif wt == 5:
            v, i = b[i : i + 4], i + 4
        elif wt == 2:
            n, i = _read_varint(b, i)
            v, i = b[i : i + n], i + n
        else:
            raise ValueError(f"unsupported wire type {wt}")
        yield num, v


def _parse_event(b: bytes) -> tuple[int, dict[str, float]]:
    step, values = 0, {}
    for num, v in _fields(b):
        if num == 2:
            step = v
        elif num == 5:
            for vn, vv in _fields(v):
                if vn == 1:
                    tag, val = "", 0.0
                    for fn, fv in _fields(vv):
                        if fn == 1:
                            tag = fv.decode()
                        elif fn == 2:
                            (val,) = struct.unpack("<f", fv)
                    values[tag] = val
    return step, values
