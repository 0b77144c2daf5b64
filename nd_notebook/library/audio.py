"""Tiny valid audio files, built byte by byte (no encoder needed): a fraction of a second of
silence per format, so that a materialised library stays small and fast to write.

- ``mp3``: MPEG-1 Layer III frames, 32 kbit/s, 44.1 kHz, mono, with empty side information
  (no main data: decoders output silence);
- ``flac``: a STREAMINFO block and one frame of a CONSTANT (zero) subframe, CRC-8/CRC-16 set;
- ``opus``: an Ogg stream with OpusHead, OpusTags and 20 ms silent CELT packets.
Tags are written afterwards with mutagen (``materialize.py``).
"""

from __future__ import annotations

import struct

SUFFIXES = ("mp3", "flac", "opus")

_MP3_FRAMES = 12  # ~0.31 s
_FLAC_SAMPLES = 4096  # ~0.09 s at 44.1 kHz
_OPUS_PACKETS = 10  # 0.2 s


def silent_audio(suffix: str) -> bytes:
    """The bytes of a short silent file of that format (``mp3``, ``flac`` or ``opus``)."""
    try:
        return _BUILDERS[suffix]()
    except KeyError:
        raise ValueError(f"no silent-audio builder for {suffix!r} (have {', '.join(SUFFIXES)})")


def _mp3() -> bytes:
    # Header FF FB 10 C0: sync, MPEG-1, Layer III, no CRC, 32 kbit/s, 44.1 kHz, no padding, mono.
    # Frame length = 144 * 32000 / 44100 = 104 bytes; 17 zero bytes of side info follow.
    frame = b"\xff\xfb\x10\xc0" + bytes(104 - 4)
    return frame * _MP3_FRAMES


def _flac() -> bytes:
    rate, channels, bps = 44100, 1, 16
    info = struct.pack(">HH", _FLAC_SAMPLES, _FLAC_SAMPLES) + bytes(6)  # block sizes, frame sizes
    packed = (rate << 44) | ((channels - 1) << 41) | ((bps - 1) << 36) | _FLAC_SAMPLES
    info += packed.to_bytes(8, "big") + bytes(16)  # + MD5 unknown
    streaminfo = bytes([0x80]) + len(info).to_bytes(3, "big") + info  # last metadata block
    # Frame header: sync + fixed blocking, block size 4096 (code 12) / 44.1 kHz (code 9),
    # mono / 16 bits, frame number 0 (UTF-8 coded), then CRC-8.
    header = bytes([0xFF, 0xF8, 0xC9, 0x08, 0x00])
    header += bytes([_crc8(header)])
    frame = header + b"\x00" + b"\x00\x00"  # CONSTANT subframe, value 0
    frame += _crc16(frame).to_bytes(2, "big")
    return b"fLaC" + streaminfo + frame


def _opus() -> bytes:
    from mutagen.ogg import OggPage

    serial = 0x6E646E62
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 48000, 0, 0)
    vendor = b"nd-notebook"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    pages = []
    for seq, (packets, position) in enumerate((
            ([head], 0), ([tags], 0),
            ([b"\xf8\xff\xfe"] * _OPUS_PACKETS, 312 + 960 * _OPUS_PACKETS))):
        page = OggPage()
        page.serial, page.sequence, page.position = serial, seq, position
        page.packets = packets
        page.first = seq == 0
        page.last = seq == 2
        pages.append(page.write())
    return b"".join(pages)


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


_BUILDERS = {"mp3": _mp3, "flac": _flac, "opus": _opus}
