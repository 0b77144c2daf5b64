"""Go source of the lean stand-in's JSON link: go-pdk's JSON helpers reach encoding/json late.

In the lean PDK the root package of the ``github.com/extism/go-pdk`` stand-in does not import
encoding/json: ``AllocateJSON``, ``InputJSON``, ``JSONFrom`` and ``OutputJSON`` call two
functions declared without a body (``LINK_GO``, the root's ``stdjson.go``) that
``//go:linkname`` resolves to the two of package ``github.com/extism/go-pdk/stdjson``
(``STDJSON_GO``), which wrap
``json.Marshal``/``json.Unmarshal``. A plugin that never calls the helpers neither links
stdjson nor encoding/json's package initialisation; one that calls them imports stdjson for its
side effect (nd-notebook's build adds ``import _ ".../stdjson"`` itself). The helpers call
through package variables holding those functions, so that the reference lives in a data
symbol: without stdjson the linker then stops with ``relocation target
github.com/extism/go-pdk/stdjson.marshal not defined`` (a direct call to a missing function is
not checked by Go's wasm linker, which writes an invalid module instead). No assembly file is
needed: the compiler accepts a linknamed function without a body.
"""

from __future__ import annotations

#: Import path of the package that links encoding/json into the JSON helpers.
STDJSON = "github.com/extism/go-pdk/stdjson"

# Edits of the lean PDK_KERNEL (after SEND_LEAN): encoding/json through the linked functions.
# Each is (old, new, count of old).
KERNEL_EDITS = (
    ('\t"encoding/json"\n\n', "\n", 1),
    (" json.Marshal(", " jsonMarshal(", 1),
    (" json.Unmarshal(", " jsonUnmarshal(", 2),
)

# wasip1 only, next to kernel.go in the stand-in's root package.
LINK_GO = f"""\
package pdk

import _ "unsafe" // for go:linkname

// The JSON helpers encode and decode with encoding/json through these variables. Package
// stdjson defines the functions: a plugin calling the helpers imports it for its side effect
// (import _ "{STDJSON}"); one that does not links neither it nor
// encoding/json. Without the import the linker names the missing function
// ("relocation target {STDJSON}.marshal not defined").
var (
	jsonMarshal   = stdjsonMarshal
	jsonUnmarshal = stdjsonUnmarshal
)

//go:linkname stdjsonMarshal {STDJSON}.marshal
func stdjsonMarshal(v any) ([]byte, error)

//go:linkname stdjsonUnmarshal {STDJSON}.unmarshal
func stdjsonUnmarshal(data []byte, v any) error
"""

# The stdjson package: no exported identifiers, only the two linked functions.
STDJSON_GO = """\
// Package stdjson gives the JSON helpers of github.com/extism/go-pdk (InputJSON, OutputJSON,
// AllocateJSON, JSONFrom) their encoding/json. A plugin calling them imports it for its side
// effect:
//
//	import _ "github.com/extism/go-pdk/stdjson"
//
// so that plugins that do not call them link no encoding/json.
package stdjson

import (
	"encoding/json"
	_ "unsafe" // for go:linkname
)

// marshal is json.Marshal, for the stand-in's AllocateJSON and OutputJSON.
//
//go:linkname marshal
func marshal(v any) ([]byte, error) {
	return json.Marshal(v)
}

// unmarshal is json.Unmarshal, for the stand-in's InputJSON and JSONFrom.
//
//go:linkname unmarshal
func unmarshal(data []byte, v any) error {
	return json.Unmarshal(data, v)
}
"""


def lean_kernel(kernel: str) -> str:
    """``kernel`` (the lean PDK_KERNEL) with its encoding/json calls made through ``LINK_GO``."""
    for old, new, count in KERNEL_EDITS:
        assert kernel.count(old) == count, old
        kernel = kernel.replace(old, new)
    return kernel
