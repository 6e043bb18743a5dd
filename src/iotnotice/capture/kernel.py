# mypy: disable-error-code="assignment,arg-type,return-value"
# (numba types these kernels; mypy cannot tell np.int64 from int here)
"""Numba decode kernel: walks pcap / pcapng records and decodes frames into numpy columns.

Each walker decodes from ``buf[pos:end]`` into row ``0..`` of preallocated columns and stops
when the columns are full, the buffer ends mid-record (``NEED_MORE``: the caller refills or,
at end of file, reports truncation) or a record is impossible (``ABSURD``/``BAD_BLOCK``).
Compiled once per process and cached on disk (``cache=True``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = [
    "ABSURD",
    "BAD_BLOCK",
    "FULL",
    "MAX_CAPLEN",
    "MAX_INTERFACES",
    "NEED_MORE",
    "OK",
    "decode_frame",
    "walk_pcap",
    "walk_pcapng",
]

# Walker status codes.
OK = 0  # buffer consumed exactly
FULL = 1  # output columns full; call again with a fresh chunk
NEED_MORE = 2  # record continues beyond the buffer
ABSURD = 3  # record claims an impossible captured length
BAD_BLOCK = 4  # pcapng block structure is broken

# libpcap's MAXIMUM_SNAPLEN; larger captured lengths are corruption, not packets.
MAX_CAPLEN = 262144
MAX_BLOCK = 16 * 1024 * 1024
MAX_INTERFACES = 1024

# Fingerprint bits, as schemas.FP_* (numba needs module-level constants).
_FP_MIRAI = 1
_FP_MASSCAN = 2
_FP_ZMAP = 4
_FP_SPOOFED = 8
_FP_QUIRK = 16


def _flat(arr: Any) -> bool:
    """A 1-D C-contiguous numpy array type: element ``i`` is at ``data + i * itemsize``."""
    return isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C"


def _byte_pointer(context: Any, builder: Any, ty: Any, value: Any) -> Any:
    """An i8* to the first byte of a uint8 array or at an address (an integer)."""
    if isinstance(ty, types.Integer):
        return builder.inttoptr(value, ir.IntType(8).as_pointer())
    return context.make_array(ty)(context, builder, value).data


def _bytes(ty: Any) -> bool:
    return isinstance(ty, types.Integer) or (_flat(ty) and ty.dtype == types.uint8)


@intrinsic
def _address_of(typingctx: Any, arr: Any) -> Any:
    """The address of a uint8 array's first byte, as an integer.

    The walkers hand this, not the array, to the inlined per-frame code: numba increfs and
    decrefs an array each time it binds it to an inlined function's parameter, and those
    atomic pairs (NRT_incref/NRT_decref) took over a quarter of the decode time. The caller
    keeps the array alive for the whole walk.
    """
    if not (_flat(arr) and arr.dtype == types.uint8):
        return None
    sig = types.intp(arr)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        data = _byte_pointer(context, builder, sig.args[0], args[0])
        return builder.ptrtoint(data, ir.IntType(64))

    return sig, codegen


def _load(bits: int, swap: bool) -> Any:
    """An intrinsic reading a ``bits``-bit integer at byte offset ``o`` of a uint8 array
    (or of the address from ``_address``).

    One unaligned load (plus a byte swap for network order) instead of a load, shift and
    or per byte; no negative-index wraparound either (offsets here are never negative and
    numba's indexing does not bounds-check anyway). Byte-wise reads compiled to neither.
    """

    @intrinsic
    def load(typingctx: Any, arr: Any, off: Any) -> Any:
        if not _bytes(arr):
            return None
        sig = types.int64(arr, off)

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            base = _byte_pointer(context, builder, sig.args[0], args[0])
            ptr = builder.gep(base, [args[1]], inbounds=True)
            width = ir.IntType(bits)
            value = builder.load(builder.bitcast(ptr, width.as_pointer()), align=1)
            if swap:
                value = builder.call(
                    builder.module.declare_intrinsic("llvm.bswap", [width]), [value]
                )
            return builder.zext(value, ir.IntType(64))

        return sig, codegen

    return load


@intrinsic
def _store(typingctx: Any, arr: Any, idx: Any, value: Any) -> Any:
    """``arr[idx] = value`` for a 1-D contiguous array and an index known to be in range,
    without the negative-index wraparound (a shape load and a select per store)."""
    if not _flat(arr):
        return None
    sig = types.none(arr, idx, value)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]], inbounds=True)
        item = context.cast(builder, args[2], sig.args[2], sig.args[0].dtype)
        builder.store(item, ptr)
        return context.get_dummy_value()

    return sig, codegen


# Typed loosely for mypy (numba's intrinsic objects take the typing context first).
_address: Any = _address_of
_put: Any = _store
_u8 = _load(8, False)
_be16 = _load(16, True)
_be32 = _load(32, True)
_le16 = _load(16, False)
_le32 = _load(32, False)


@njit(cache=True, inline="always")
def _u32(b: np.ndarray, o: int, big: bool) -> int:
    return _be32(b, o) if big else _le32(b, o)


@njit(cache=True, inline="always")
def _u16(b: np.ndarray, o: int, big: bool) -> int:
    return _be16(b, o) if big else _le16(b, o)


@njit(cache=True, inline="always")
def _link_payload(b: np.ndarray, off: int, end: int, linktype: int) -> tuple[int, int]:
    """(offset of the IP header, expected IP version 4/6, 0 = read the nibble, -1 = not IP)."""
    caplen = end - off
    if linktype == 1:  # Ethernet, with any stack of 802.1Q / 802.1ad / QinQ tags
        if caplen < 14:
            return off, -1
        et = _be16(b, off + 12)
        p = off + 14
        while (et == 0x8100 or et == 0x88A8 or et == 0x9100) and p + 4 <= end:
            et = _be16(b, p + 2)
            p += 4
        if et == 0x0800:
            return p, 4
        if et == 0x86DD:
            return p, 6
        return p, -1
    if linktype == 101 or linktype == 12 or linktype == 14:
        return off, 0
    if linktype == 228:
        return off, 4
    if linktype == 229:
        return off, 6
    if linktype == 113:  # Linux cooked v1: protocol at 14
        if caplen < 16:
            return off, -1
        et = _be16(b, off + 14)
        return off + 16, 4 if et == 0x0800 else (6 if et == 0x86DD else -1)
    if linktype == 276:  # Linux cooked v2: protocol at 0
        if caplen < 20:
            return off, -1
        et = _be16(b, off)
        return off + 20, 4 if et == 0x0800 else (6 if et == 0x86DD else -1)
    if linktype == 0 or linktype == 108:  # BSD loopback: 4-byte address family
        if caplen < 4:
            return off, -1
        # NULL is in the capturing host's byte order, LOOP in network order.
        fam = _be32(b, off) if linktype == 108 else _le32(b, off)
        if fam > 0xFFFF:
            fam = _be32(b, off)
        if fam == 2:
            return off + 4, 4
        if fam == 10 or fam == 24 or fam == 28 or fam == 30:
            return off + 4, 6
        return off + 4, -1
    return off, -1


@njit(cache=True, inline="always")
def _l4(
    b: np.ndarray, q: int, end: int, proto: int, avail: int, first: bool
) -> tuple[int, int, int, int, int, int, int]:
    """(sport, dport, flags, tcp header length, window, seq, quirk) of the transport header."""
    sport = 0
    dport = 0
    flags = 0
    hlen = 0
    win = 0
    seq = 0
    quirk = 0
    if not first:
        return sport, dport, flags, hlen, win, seq, quirk
    if proto == 6 or proto == 17:
        if q + 4 <= end:
            sport = _be16(b, q)
            dport = _be16(b, q + 2)
        if proto == 6 and q + 14 <= end:
            seq = _be32(b, q + 4)
            hlen = (_u8(b, q + 12) >> 4) * 4
            flags = _u8(b, q + 13)
            if q + 16 <= end:
                win = _be16(b, q + 14)
            # Mirai variants send SYNs whose data offset runs past the IP length: keep, flag.
            if hlen < 20 or hlen > avail:
                quirk = _FP_QUIRK
    elif (proto == 1 or proto == 58) and q + 2 <= end:
        sport = _u8(b, q)
        dport = _u8(b, q + 1)
    return sport, dport, flags, hlen, win, seq, quirk


# Inlined into the walkers. It returns scalars and the walkers store them: arrays taken out of
# a tuple inside the loop cost numba an atomic incref/decref each per packet, which tripled
# the time per packet.
@njit(cache=True, inline="always")
def decode_frame(b: np.ndarray, off: int, end: int, linktype: int) -> tuple:
    """Fields of one frame's IP packet; version 0 when it carries none.

    (version, src, dst, sport, dport, proto, ttl, flags, ip length, syn length, syn window,
    ip id, seq, fingerprints, offset of the IPv6 header or -1).
    """
    none = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1)
    p, version = _link_payload(b, off, end, linktype)
    if version < 0 or p >= end:
        return none
    nibble = _u8(b, p) >> 4
    if version == 0:
        version = nibble
    src = 0
    dst = 0
    ipid = 0
    p6 = -1
    if version == 4:
        if p + 20 > end or nibble != 4:
            return none
        ihl = (_u8(b, p) & 15) * 4
        iplen = _be16(b, p + 2)
        ipid = _be16(b, p + 4)
        first = (_be16(b, p + 6) & 0x1FFF) == 0
        ttl = _u8(b, p + 8)
        proto = _u8(b, p + 9)
        src = _be32(b, p + 12)
        dst = _be32(b, p + 16)
        fp = 0
        if ihl < 20:
            fp |= _FP_QUIRK
            ihl = 20
        sport, dport, flags, hlen, win, seq, quirk = _l4(b, p + ihl, end, proto, iplen - ihl, first)
        fp |= quirk
        if ipid == 54321:
            fp |= _FP_ZMAP
        if proto == 6 and (flags & 0x12) == 0x02:
            if seq == dst:
                fp |= _FP_MIRAI
            if ipid == ((dst ^ dport ^ seq) & 0xFFFF) or (
                hlen == 20 and ttl >= 200 and win == 1024
            ):
                fp |= _FP_MASSCAN
        top = src >> 24
        if top == 0 or top == 127 or top >= 224 or src == dst:
            fp |= _FP_SPOOFED
    elif version == 6:
        if p + 40 > end or nibble != 6:
            return none
        iplen = _be16(b, p + 4) + 40
        nh = _u8(b, p + 6)
        ttl = _u8(b, p + 7)
        q = p + 40
        first = True
        for _ in range(8):  # extension headers; bounded so garbage cannot loop
            if (nh == 0 or nh == 43 or nh == 60 or nh == 135 or nh == 139 or nh == 140) and (
                q + 2 <= end
            ):
                nxt = _u8(b, q)
                q += (_u8(b, q + 1) + 1) * 8
                nh = nxt
            elif nh == 44 and q + 8 <= end:
                nxt = _u8(b, q)
                if (_be16(b, q + 2) & 0xFFF8) != 0:
                    first = False
                q += 8
                nh = nxt
            elif nh == 51 and q + 2 <= end:
                nxt = _u8(b, q)
                q += (_u8(b, q + 1) + 2) * 4
                nh = nxt
            else:
                break
        proto = nh
        sport, dport, flags, hlen, win, seq, fp = _l4(b, q, end, proto, iplen - (q - p), first)
        same = True
        zero = True
        for k in range(16):
            s = _u8(b, p + 8 + k)
            if s != _u8(b, p + 24 + k):
                same = False
            if k < 15 and s != 0:
                zero = False
        last = _u8(b, p + 23)
        if same or _u8(b, p + 8) == 0xFF or (zero and (last == 0 or last == 1)):
            fp |= _FP_SPOOFED
        p6 = p
    else:
        return none
    syn = proto == 6 and (flags & 0x02) != 0
    synlen = min(hlen, 255) if syn else 0
    synwin = win if syn else 0
    return (
        version,
        src,
        dst,
        sport,
        dport,
        proto,
        ttl,
        flags,
        iplen,
        synlen,
        synwin,
        ipid,
        seq,
        fp,
        p6,
    )


@njit(cache=True, nogil=True)
def walk_pcap(
    b: np.ndarray,
    pos: int,
    end: int,
    big: bool,
    frac_ns: int,
    linktype: int,
    max_caplen: int,
    cols: tuple,
    cap: int,
) -> tuple[int, int, int, int, int]:
    """Decode classic pcap records: (rows, new pos, frames, non-IP frames, status)."""
    (ts_a, ver_a, src_a, dst_a, sp_a, dp_a, pr_a, ttl_a, fl_a, len_a, sl_a, sw_a, id_a, seq_a,
     fp_a, s6_a, d6_a) = cols  # fmt: skip
    base = _address(b)
    n = 0
    frames = 0
    non_ip = 0
    while True:
        if n >= cap:
            return n, pos, frames, non_ip, FULL
        if pos + 16 > end:
            return n, pos, frames, non_ip, OK if pos == end else NEED_MORE
        incl = _u32(b, pos + 8, big)
        if incl > max_caplen:
            return n, pos, frames, non_ip, ABSURD
        if pos + 16 + incl > end:
            return n, pos, frames, non_ip, NEED_MORE
        ts = _u32(b, pos, big) * 1_000_000_000 + _u32(b, pos + 4, big) * frac_ns
        frames += 1
        foff = pos + 16
        fend = foff + incl
        flink = linktype
        r = decode_frame(base, foff, fend, flink)
        if r[0] == 0:
            non_ip += 1
        else:
            _put(ts_a, n, ts)
            _put(ver_a, n, r[0])
            _put(src_a, n, r[1])
            _put(dst_a, n, r[2])
            _put(sp_a, n, r[3])
            _put(dp_a, n, r[4])
            _put(pr_a, n, r[5])
            _put(ttl_a, n, r[6])
            _put(fl_a, n, r[7])
            _put(len_a, n, r[8])
            _put(sl_a, n, r[9])
            _put(sw_a, n, r[10])
            _put(id_a, n, r[11])
            _put(seq_a, n, r[12])
            _put(fp_a, n, r[13])
            p6 = r[14]
            if p6 >= 0:
                for k in range(16):
                    s6_a[n, k] = b[p6 + 8 + k]
                    d6_a[n, k] = b[p6 + 24 + k]
            n += 1
        pos += 16 + incl


@njit(cache=True)
def _pcapng_ts(raw: int, iface: int, if_res: np.ndarray, if_off: np.ndarray) -> int:
    """Timestamp of an interface's clock ticks in nanoseconds since the epoch."""
    r = if_res[iface]
    if r & 0x80:
        e = r & 0x7F
        ns = int(raw / (2.0**e) * 1e9)
    elif r <= 9:
        ns = raw * 10 ** (9 - r)
    elif r > 27:  # finer than 10^-27 s: nonsense, and 10**r would overflow
        ns = 0
    else:
        ns = raw // 10 ** (r - 9)
    return ns + if_off[iface] * 1_000_000_000


@njit(cache=True)
def _read_idb(
    b: np.ndarray,
    off: int,
    blen: int,
    big: bool,
    state: np.ndarray,
    if_link: np.ndarray,
    if_snap: np.ndarray,
    if_res: np.ndarray,
    if_off: np.ndarray,
) -> bool:
    """Register an interface description block; False when the table is full."""
    k = state[1]
    if k >= MAX_INTERFACES or blen < 20:
        return False
    if_link[k] = _u16(b, off + 8, big)
    if_snap[k] = _u32(b, off + 12, big)
    if_res[k] = 6
    if_off[k] = 0
    o = off + 16
    stop = off + blen - 4
    while o + 4 <= stop:
        code = _u16(b, o, big)
        olen = _u16(b, o + 2, big)
        if code == 0 or o + 4 + olen > stop:
            break
        if code == 9 and olen >= 1:
            if_res[k] = _u8(b, o + 4)
        elif code == 14 and olen >= 8:
            hi = _u32(b, o + 4, big)
            lo = _u32(b, o + 8, big)
            v = (hi << 32) | lo if big else (lo << 32) | hi
            if_off[k] = v
        o += 4 + ((olen + 3) & ~3)
    state[1] = k + 1
    return True


@njit(cache=True, nogil=True)
def walk_pcapng(
    b: np.ndarray,
    pos: int,
    end: int,
    state: np.ndarray,
    if_link: np.ndarray,
    if_snap: np.ndarray,
    if_res: np.ndarray,
    if_off: np.ndarray,
    cols: tuple,
    cap: int,
) -> tuple[int, int, int, int, int]:
    """Decode pcapng blocks: (rows, new pos, frames, non-IP frames, status).

    ``state`` holds [big-endian?, interface count, last timestamp] across calls.
    """
    (ts_a, ver_a, src_a, dst_a, sp_a, dp_a, pr_a, ttl_a, fl_a, len_a, sl_a, sw_a, id_a, seq_a,
     fp_a, s6_a, d6_a) = cols  # fmt: skip
    base = _address(b)
    n = 0
    frames = 0
    non_ip = 0
    while True:
        if n >= cap:
            return n, pos, frames, non_ip, FULL
        if pos + 12 > end:
            return n, pos, frames, non_ip, OK if pos == end else NEED_MORE
        btype = _le32(b, pos)
        if btype == 0x0A0D0D0A:  # section header: byte order may change, interfaces reset
            if b[pos + 8] == 0x4D and b[pos + 9] == 0x3C:
                state[0] = 0
            elif b[pos + 8] == 0x1A and b[pos + 9] == 0x2B:
                state[0] = 1
            else:
                return n, pos, frames, non_ip, BAD_BLOCK
            state[1] = 0
        big = state[0] == 1
        btype = _u32(b, pos, big)
        blen = _u32(b, pos + 4, big)
        if blen < 12 or (blen & 3) != 0 or blen > MAX_BLOCK:
            return n, pos, frames, non_ip, BAD_BLOCK
        if pos + blen > end:
            return n, pos, frames, non_ip, NEED_MORE
        if btype == 1:
            if not _read_idb(b, pos, blen, big, state, if_link, if_snap, if_res, if_off):
                return n, pos, frames, non_ip, BAD_BLOCK
        elif btype == 6 or btype == 2:  # enhanced / obsolete packet block
            if blen < 32:
                return n, pos, frames, non_ip, BAD_BLOCK
            iface = _u32(b, pos + 8, big) if btype == 6 else _u16(b, pos + 8, big)
            if iface >= state[1]:
                return n, pos, frames, non_ip, BAD_BLOCK
            raw = (_u32(b, pos + 12, big) << 32) | _u32(b, pos + 16, big)
            incl = _u32(b, pos + 20, big)
            if incl > blen - 32:
                return n, pos, frames, non_ip, ABSURD
            state[2] = _pcapng_ts(raw, iface, if_res, if_off)
            foff = pos + 28
            fend = foff + incl
            flink = if_link[iface]
        elif btype == 3:  # simple packet block: interface 0, no timestamp
            if state[1] < 1 or blen < 16:
                return n, pos, frames, non_ip, BAD_BLOCK
            incl = min(_u32(b, pos + 8, big), blen - 16)
            if if_snap[0] > 0:
                incl = min(incl, if_snap[0])
            foff = pos + 12
            fend = foff + incl
            flink = if_link[0]
        if btype == 6 or btype == 2 or btype == 3:  # one packet; SPBs take the last timestamp
            frames += 1
            r = decode_frame(base, foff, fend, flink)
            if r[0] == 0:
                non_ip += 1
            else:
                _put(ts_a, n, state[2])
                _put(ver_a, n, r[0])
                _put(src_a, n, r[1])
                _put(dst_a, n, r[2])
                _put(sp_a, n, r[3])
                _put(dp_a, n, r[4])
                _put(pr_a, n, r[5])
                _put(ttl_a, n, r[6])
                _put(fl_a, n, r[7])
                _put(len_a, n, r[8])
                _put(sl_a, n, r[9])
                _put(sw_a, n, r[10])
                _put(id_a, n, r[11])
                _put(seq_a, n, r[12])
                _put(fp_a, n, r[13])
                p6 = r[14]
                if p6 >= 0:
                    for k in range(16):
                        s6_a[n, k] = b[p6 + 8 + k]
                        d6_a[n, k] = b[p6 + 24 + k]
                n += 1
        pos += blen
