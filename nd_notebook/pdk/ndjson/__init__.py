"""The ``internal/ndjson`` runtime of the bundled PDK, as Go sources.

It writes and reads JSON exactly as the Go toolchain's ``encoding/json`` does for the types
Navidrome exchanges (strings, bools, integers, floats, ``[]byte``, slices, ``map[string]T``,
pointers and structs), without reflection, ``fmt`` or ``encoding/json``:

- encoding: HTML-safe escaping of ``<``, ``>``, ``&``, U+2028 and U+2029, control characters as
  ``\\b \\f \\n \\r \\t`` or ``\\u00XX``, each byte of invalid UTF-8 as U+FFFD; floats in the
  shortest form, with exponent notation below 1e-6 and from 1e21 (``e-07`` written ``e-7``);
  NaN and infinities fail with ``json: unsupported value: ...``; ``[]byte`` in padded base64;
  map keys sorted bytewise; nil slices, maps and pointers as ``null``.
- decoding: the whole input is checked first (syntax errors win, with Go's texts); keys match
  exactly, else case-insensitively (Unicode simple folding, so U+017F matches ``s`` and U+212A
  ``k``); unknown keys are skipped; ``null`` leaves strings, numbers, bools and structs alone and
  clears slices, maps and pointers; a repeated key decodes into what is already there (maps
  merge, slice elements and pointees are reused); a value of the wrong type records the first
  ``json: cannot unmarshal ...`` error (root type and JSON path, as Go reports it) and decoding
  goes on.

The generated ``encodeX``/``decodeX`` functions of each package call it; the package is
internal, so it adds no identifier to the PDK's public API.
"""

from __future__ import annotations

from .decode import DECODE
from .encode import ENCODE
from .valid import VALID

# file name in internal/ndjson -> Go source
FILES = {"encode.go": ENCODE, "decode.go": DECODE, "valid.go": VALID}

__all__ = ["FILES"]
