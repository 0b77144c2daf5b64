"""Go source of ``internal/ndjson/encode.go``: the Encoder, writing JSON as encoding/json does."""

from __future__ import annotations

ENCODE = r'''// Package ndjson writes and reads JSON as encoding/json does, for the generated codecs of
// the Navidrome PDK types, without reflection.
package ndjson

import (
	"encoding/base64"
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
)

// ---- encoding --------------------------------------------------------------------------

// Encoder accumulates one JSON document; the first unsupported value makes it fail.
type Encoder struct {
	buf []byte
	err error
}

// NewEncoder starts an empty document.
func NewEncoder() *Encoder {
	return &Encoder{buf: make([]byte, 0, 128)}
}

// Result returns the document, or the error of the first unsupported value.
func (e *Encoder) Result() ([]byte, error) {
	if e.err != nil {
		return nil, e.err
	}
	return e.buf, nil
}

// BeginObject writes {.
//
//go:noinline
func (e *Encoder) BeginObject() {
	e.buf = append(e.buf, '{')
}

// Key writes a member's quoted key and colon, after a comma unless it is the first member.
//
//go:noinline
func (e *Encoder) Key(quoted string) {
	if e.buf[len(e.buf)-1] != '{' {
		e.buf = append(e.buf, ',')
	}
	e.buf = append(e.buf, quoted...)
}

// EndObject writes }.
//
//go:noinline
func (e *Encoder) EndObject() {
	e.buf = append(e.buf, '}')
}

// Null writes null.
//
//go:noinline
func (e *Encoder) Null() {
	e.buf = append(e.buf, "null"...)
}

// Bool writes true or false.
//
//go:noinline
func (e *Encoder) Bool(v bool) {
	e.buf = strconv.AppendBool(e.buf, v)
}

// Int writes a signed integer.
//
//go:noinline
func (e *Encoder) Int(v int64) {
	e.buf = strconv.AppendInt(e.buf, v, 10)
}

// Uint writes an unsigned integer.
//
//go:noinline
func (e *Encoder) Uint(v uint64) {
	e.buf = strconv.AppendUint(e.buf, v, 10)
}

// Float writes a float of the given bit size (32 or 64) as encoding/json formats it.
func (e *Encoder) Float(v float64, bits int) {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		if e.err == nil {
			e.err = errors.New("json: unsupported value: " + strconv.FormatFloat(v, 'g', -1, bits))
		}
		e.buf = append(e.buf, '0')
		return
	}
	abs := math.Abs(v)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) ||
			bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b := strconv.AppendFloat(e.buf, v, format, -1, bits)
	if format == 'e' {
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	e.buf = b
}

// Bytes writes b in padded base64, or null for a nil slice.
//
//go:noinline
func (e *Encoder) Bytes(b []byte) {
	if b == nil {
		e.Null()
		return
	}
	e.buf = append(e.buf, '"')
	e.buf = base64.StdEncoding.AppendEncode(e.buf, b)
	e.buf = append(e.buf, '"')
}

const hexDigits = "0123456789abcdef"

// String writes s quoted, HTML-safe, with invalid UTF-8 replaced by U+FFFD.
func (e *Encoder) String(s string) {
	b := append(e.buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	e.buf = append(b, '"')
}

// WriteSlice writes s as an array (null when nil), each element with enc.
func WriteSlice[T any](e *Encoder, s []T, enc func(*Encoder, *T)) {
	if s == nil {
		e.Null()
		return
	}
	e.buf = append(e.buf, '[')
	for i := range s {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		enc(e, &s[i])
	}
	e.buf = append(e.buf, ']')
}

// WriteMap writes m as an object with its keys in bytewise order (null when nil).
func WriteMap[T any](e *Encoder, m map[string]T, enc func(*Encoder, *T)) {
	if m == nil {
		e.Null()
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	e.buf = append(e.buf, '{')
	for i, k := range keys {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.String(k)
		e.buf = append(e.buf, ':')
		v := m[k]
		enc(e, &v)
	}
	e.buf = append(e.buf, '}')
}

// WritePtr writes *p with enc, or null for a nil pointer.
func WritePtr[T any](e *Encoder, p *T, enc func(*Encoder, *T)) {
	if p == nil {
		e.Null()
		return
	}
	enc(e, p)
}

// sortStrings sorts bytewise: a merge sort, so that no sort package is linked.
func sortStrings(s []string) {
	tmp := make([]string, len(s))
	for width := 1; width < len(s); width *= 2 {
		for lo := 0; lo < len(s); lo += 2 * width {
			mid, hi := min(lo+width, len(s)), min(lo+2*width, len(s))
			i, j, k := lo, mid, lo
			for i < mid && j < hi {
				if s[j] < s[i] {
					tmp[k] = s[j]
					j++
				} else {
					tmp[k] = s[i]
					i++
				}
				k++
			}
			k += copy(tmp[k:], s[i:mid])
			copy(tmp[k:], s[j:hi])
		}
		copy(s, tmp)
	}
}
'''
