"""Go source of ``internal/ndjson/decode.go``: the Decoder and the value readers the generated decoders call."""

from __future__ import annotations

DECODE = r'''package ndjson

import (
	"encoding/base64"
	"errors"
	"strconv"
	"unicode/utf8"
)

// ---- decoding --------------------------------------------------------------------------

// Decoder reads one syntactically valid document; it keeps the first type error.
type Decoder struct {
	data []byte
	pos  int
	key  []byte
	root string
	path []string
	err  error
}

// Unmarshal checks data, then decodes it with decode; root is the bare name of the Go type
// decoded into (used in error texts, as encoding/json names it).
func Unmarshal(data []byte, root string, decode func(*Decoder)) error {
	if err := Valid(data); err != nil {
		return err
	}
	d := Decoder{data: data, root: root}
	decode(&d)
	return d.err
}

func (d *Decoder) peek() byte {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return d.data[d.pos]
		}
	}
	return 0
}

// Key returns the unescaped key of the member NextField moved to.
//
//go:noinline
func (d *Decoder) Key() []byte {
	return d.key
}

// Match returns the index in names of the current key: the exact name, else the first name it
// equals case-insensitively; -1 for an unknown key.
func (d *Decoder) Match(names []string) int {
	for i, name := range names {
		if string(d.key) == name {
			return i
		}
	}
	for i, name := range names {
		if FoldEqual(d.key, name) {
			return i
		}
	}
	return -1
}

// Enter adds the current key to the error path of the value about to be decoded.
//
//go:noinline
func (d *Decoder) Enter() {
	d.path = append(d.path, pointerToken(d.key))
}

// Leave removes what Enter added.
//
//go:noinline
func (d *Decoder) Leave() {
	d.path = d.path[:len(d.path)-1]
}

// BeginObject enters an object; false (after skipping the value) for null or another kind,
// which is a type error against goType.
func (d *Decoder) BeginObject(goType string) bool {
	switch d.peek() {
	case '{':
		d.pos++
		return true
	case 'n':
		d.pos += 4
	default:
		d.Mismatch(goType)
	}
	return false
}

// NextField moves to the next member of the object (its key in Key), false after the last.
func (d *Decoder) NextField() bool {
	c := d.peek()
	if c == ',' {
		d.pos++
		c = d.peek()
	}
	if c == '}' {
		d.pos++
		return false
	}
	d.key = d.readString()
	d.peek()
	d.pos++ // ':'
	return true
}

// nextElem moves to the next array element, false after the last.
func (d *Decoder) nextElem() bool {
	c := d.peek()
	if c == ',' {
		d.pos++
		c = d.peek()
	}
	if c == ']' {
		d.pos++
		return false
	}
	return true
}

// Mismatch records a type error for the value at hand against goType and skips it.
func (d *Decoder) Mismatch(goType string) {
	var kind string
	switch d.peek() {
	case '{':
		kind = "object"
	case '[':
		kind = "array"
	case '"':
		kind = "string"
	case 't', 'f':
		kind = "bool"
	case 'n':
		kind = "null"
	default:
		kind = "number"
	}
	d.typeError(kind, goType, nil)
	d.Skip()
}

func (d *Decoder) typeError(value, goType string, cause error) {
	if d.err != nil {
		return
	}
	msg := "json: cannot unmarshal " + value + " into "
	if len(d.path) == 0 {
		msg += "Go value of type " + goType
	} else {
		field := d.path[0]
		for _, token := range d.path[1:] {
			field += "." + token
		}
		if last := d.path[len(d.path)-1]; last == "" || !allDigits(last) {
			msg += "Go struct field "
		}
		msg += d.root + "." + field + " of type " + goType
	}
	if cause != nil {
		msg += ": " + cause.Error()
	}
	d.err = errors.New(msg)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// pointerToken escapes a key as a JSON Pointer token (~ as ~0, / as ~1).
func pointerToken(key []byte) string {
	plain := true
	for _, c := range key {
		if c == '~' || c == '/' {
			plain = false
			break
		}
	}
	if plain {
		return string(key)
	}
	out := make([]byte, 0, len(key)+4)
	for _, c := range key {
		switch c {
		case '~':
			out = append(out, '~', '0')
		case '/':
			out = append(out, '~', '1')
		default:
			out = append(out, c)
		}
	}
	return string(out)
}

// Skip moves past one value.
func (d *Decoder) Skip() {
	switch d.peek() {
	case '"':
		d.skipString()
	case '{', '[':
		depth := 0
		for {
			switch d.data[d.pos] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			case '"':
				d.skipString()
				continue
			}
			d.pos++
			if depth == 0 {
				return
			}
		}
	default:
		d.literal()
	}
}

func (d *Decoder) skipString() {
	d.pos++
	for {
		switch d.data[d.pos] {
		case '"':
			d.pos++
			return
		case '\\':
			d.pos += 2
		default:
			d.pos++
		}
	}
}

// literal returns a number, true, false or null at the current position and moves past it.
func (d *Decoder) literal() []byte {
	start := d.pos
	for d.pos < len(d.data) {
		switch c := d.data[d.pos]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c == '-', c == '+', c == '.', c == 'E':
			d.pos++
			continue
		}
		break
	}
	return d.data[start:d.pos]
}

// readString returns the unescaped string at the current position (on '"').
func (d *Decoder) readString() []byte {
	d.pos++
	start := d.pos
	for i := start; ; i++ {
		c := d.data[i]
		if c == '"' {
			d.pos = i + 1
			return d.data[start:i]
		}
		if c == '\\' || c >= utf8.RuneSelf {
			break
		}
	}
	out := make([]byte, 0, 16)
	i := start
	for {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return out
		case c == '\\':
			switch esc := d.data[i+1]; esc {
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r := hex4(d.data[i+2 : i+6])
				i += 6
				if r >= 0xD800 && r < 0xE000 {
					if r < 0xDC00 && i+6 <= len(d.data) && d.data[i] == '\\' && d.data[i+1] == 'u' {
						if lo := hex4(d.data[i+2 : i+6]); lo >= 0xDC00 && lo < 0xE000 {
							r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
							i += 6
							out = utf8.AppendRune(out, r)
							continue
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
				continue
			default: // " \ /
				out = append(out, esc)
			}
			i += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(d.data[i:])
			out = utf8.AppendRune(out, r)
			i += size
		}
	}
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		default:
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// ---- values ----------------------------------------------------------------------------

// String decodes a string; null leaves it unchanged.
func String(d *Decoder, v *string) {
	switch d.peek() {
	case '"':
		*v = string(d.readString())
	case 'n':
		d.pos += 4
	default:
		d.Mismatch("string")
	}
}

// Bool decodes a bool; null leaves it unchanged.
func Bool(d *Decoder, v *bool) {
	switch d.peek() {
	case 't':
		*v = true
		d.pos += 4
	case 'f':
		*v = false
		d.pos += 5
	case 'n':
		d.pos += 4
	default:
		d.Mismatch("bool")
	}
}

// number returns the number at hand, or nil after handling null or another kind.
func (d *Decoder) number(goType string) []byte {
	switch c := d.peek(); {
	case c == '-' || c >= '0' && c <= '9':
		return d.literal()
	case c == 'n':
		d.pos += 4
	default:
		d.Mismatch(goType)
	}
	return nil
}

// Int decodes a signed integer of the given bit size.
func Int[T int | int8 | int16 | int32 | int64](d *Decoder, v *T, bits int, goType string) {
	if s := d.number(goType); s != nil {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil || bits < 64 && (n < -1<<(bits-1) || n >= 1<<(bits-1)) {
			d.typeError("number "+string(s), goType, nil)
			return
		}
		*v = T(n)
	}
}

// Uint decodes an unsigned integer of the given bit size.
func Uint[T uint | uint8 | uint16 | uint32 | uint64](d *Decoder, v *T, bits int, goType string) {
	if s := d.number(goType); s != nil {
		n, err := strconv.ParseUint(string(s), 10, 64)
		if err != nil || bits < 64 && n >= 1<<bits {
			d.typeError("number "+string(s), goType, nil)
			return
		}
		*v = T(n)
	}
}

// Float decodes a float of the given bit size.
func Float[T float32 | float64](d *Decoder, v *T, bits int, goType string) {
	if s := d.number(goType); s != nil {
		f, err := strconv.ParseFloat(string(s), bits)
		if err != nil {
			d.typeError("number "+string(s), goType, nil)
			return
		}
		*v = T(f)
	}
}

// Bytes decodes base64 text (or an array of byte values); null makes it nil.
func Bytes(d *Decoder, v *[]byte) {
	switch d.peek() {
	case '"':
		// Decoded into the slice's own array, as encoding/json does (a failure leaves it
		// partly overwritten).
		b, err := base64.StdEncoding.AppendDecode((*v)[:0], d.readString())
		if err != nil {
			d.typeError("string", "[]uint8", err)
			return
		}
		if b == nil {
			b = []byte{}
		}
		*v = b
	case '[':
		Slice(d, v, "[]uint8", func(d *Decoder, b *byte) { Uint(d, b, 8, "uint8") })
	case 'n':
		d.pos += 4
		*v = nil
	default:
		d.Mismatch("[]uint8")
	}
}

// Slice decodes an array into *v, reusing its elements as encoding/json does; null makes it nil.
func Slice[T any](d *Decoder, v *[]T, goType string, dec func(*Decoder, *T)) {
	switch d.peek() {
	case '[':
		d.pos++
	case 'n':
		d.pos += 4
		*v = nil
		return
	default:
		d.Mismatch(goType)
		return
	}
	s := *v
	i := 0
	for d.nextElem() {
		if i >= cap(s) {
			var zero T
			s = append(s[:i], zero)
		} else if i >= len(s) {
			s = s[:i+1]
		}
		d.path = append(d.path, strconv.Itoa(i))
		dec(d, &s[i])
		d.path = d.path[:len(d.path)-1]
		i++
	}
	if i < len(s) {
		s = s[:i]
	}
	if i == 0 {
		s = []T{}
	}
	*v = s
}

// Map decodes an object into *v (created when nil, else merged into); null makes it nil.
func Map[T any](d *Decoder, v *map[string]T, goType string, dec func(*Decoder, *T)) {
	switch d.peek() {
	case '{':
		d.pos++
	case 'n':
		d.pos += 4
		*v = nil
		return
	default:
		d.Mismatch(goType)
		return
	}
	if *v == nil {
		*v = map[string]T{}
	}
	for d.NextField() {
		key := string(d.key)
		var elem T
		d.Enter()
		dec(d, &elem)
		d.Leave()
		(*v)[key] = elem
	}
}

// Ptr decodes into **v, allocating it when nil; null makes it nil.
func Ptr[T any](d *Decoder, v **T, dec func(*Decoder, *T)) {
	if d.peek() == 'n' {
		d.pos += 4
		*v = nil
		return
	}
	if *v == nil {
		*v = new(T)
	}
	dec(d, *v)
}

// FoldEqual reports whether key equals the ASCII name under Unicode simple case folding.
func FoldEqual(key []byte, name string) bool {
	j := 0
	for i := 0; i < len(key); {
		if j >= len(name) {
			return false
		}
		want := name[j] | 0x20 // ASCII letters lower-cased; names hold letters and digits
		c := key[i]
		if c < utf8.RuneSelf {
			if c|0x20 != want || (c|0x20 < 'a' || c|0x20 > 'z') && c != name[j] {
				return false
			}
			i++
			j++
			continue
		}
		r, size := utf8.DecodeRune(key[i:])
		switch {
		case r == '\u017f' && want == 's', r == '\u212a' && want == 'k':
		default:
			return false
		}
		i += size
		j++
	}
	return j == len(name)
}
'''
