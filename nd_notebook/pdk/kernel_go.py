"""Go source of ``internal/kernel``: the few Extism kernel calls the generated wrappers make.

The host wrappers and capability exports of the lean PDK read the input, write the output or
error, and call host functions through this package instead of package ``pdk``, so that a
plugin which does not import ``pdk`` (or go-pdk) itself never links the go-pdk stand-in, whose
JSON helpers (``InputJSON``...) bring in encoding/json. The kernel calls are the ones ``pdk``
makes, in the same order: the request block is freed after the call, the response, output and
error blocks are not (as go-pdk v1.1.3).
"""

from __future__ import annotations

KERNEL = r'''// Package kernel makes the Extism kernel calls of the generated wrappers: input, output,
// error and host-function requests.
package kernel

import "encoding/binary"

//go:wasmimport extism:host/env alloc
func extismAlloc(length uint64) uint64

//go:wasmimport extism:host/env free
func extismFree(offset uint64)

//go:wasmimport extism:host/env length
func extismLength(offset uint64) uint64

//go:wasmimport extism:host/env load_u8
func extismLoadU8(offset uint64) uint32

//go:wasmimport extism:host/env load_u64
func extismLoadU64(offset uint64) uint64

//go:wasmimport extism:host/env store_u8
func extismStoreU8(offset uint64, value uint32)

//go:wasmimport extism:host/env store_u64
func extismStoreU64(offset uint64, value uint64)

//go:wasmimport extism:host/env input_length
func extismInputLength() uint64

//go:wasmimport extism:host/env input_load_u8
func extismInputLoadU8(offset uint64) uint32

//go:wasmimport extism:host/env input_load_u64
func extismInputLoadU64(offset uint64) uint64

//go:wasmimport extism:host/env output_set
func extismOutputSet(offset uint64, length uint64)

//go:wasmimport extism:host/env error_set
func extismErrorSet(offset uint64)

// Input returns the call input.
func Input() []byte {
	buf := make([]byte, extismInputLength())
	n := len(buf) &^ 7
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(buf[i:i+8], extismInputLoadU64(uint64(i)))
	}
	for i := n; i < len(buf); i++ {
		buf[i] = byte(extismInputLoadU8(uint64(i)))
	}
	return buf
}

// Output sets the call output.
func Output(data []byte) {
	extismOutputSet(allocate(data), uint64(len(data)))
}

// SetError reports err as the call error.
func SetError(err error) {
	extismErrorSet(allocate([]byte(err.Error())))
}

// Call sends request to a host function and returns its response.
func Call(fn func(uint64) uint64, request []byte) []byte {
	offset := allocate(request)
	defer extismFree(offset)
	response := fn(offset)
	buf := make([]byte, extismLength(response))
	n := len(buf) &^ 7
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(buf[i:i+8], extismLoadU64(response+uint64(i)))
	}
	for i := n; i < len(buf); i++ {
		buf[i] = byte(extismLoadU8(response + uint64(i)))
	}
	return buf
}

// allocate copies data into a new kernel block and returns its offset.
func allocate(data []byte) uint64 {
	offset := extismAlloc(uint64(len(data)))
	n := len(data) &^ 7
	for i := 0; i < n; i += 8 {
		extismStoreU64(offset+uint64(i), binary.LittleEndian.Uint64(data[i:i+8]))
	}
	for i := n; i < len(data); i++ {
		extismStoreU8(offset+uint64(i), uint32(data[i]))
	}
	return offset
}
'''
