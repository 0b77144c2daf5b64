"""Go source of ``internal/ndjson/valid.go``: the syntax check run before decoding, with encoding/json's error texts."""

from __future__ import annotations

VALID = r'''package ndjson

import (
	"strconv"
	"unicode/utf8"
)

// maxDepth is how deeply arrays and objects may nest.
const maxDepth = 10000

// SyntaxError is a malformed document, worded as encoding/json words it.
type SyntaxError struct {
	msg string
}

func (e *SyntaxError) Error() string {
	return e.msg
}

var errEnd = &SyntaxError{"unexpected end of JSON input"}

// Valid checks that data is one JSON value, with encoding/json's error for the first problem.
func Valid(data []byte) error {
	v := validator{data: data}
	if err := v.value(); err != nil {
		return err
	}
	if c, ok := v.next(); ok {
		return v.invalid(c, "after top-level value")
	}
	return nil
}

type validator struct {
	data  []byte
	pos   int
	depth int
}

// next skips white space and returns the next byte, false at the end.
func (v *validator) next() (byte, bool) {
	for v.pos < len(v.data) {
		switch c := v.data[v.pos]; c {
		case ' ', '\t', '\n', '\r':
			v.pos++
		default:
			return c, true
		}
	}
	return 0, false
}

func (v *validator) invalid(_ byte, context string) error {
	return &SyntaxError{"invalid character " + quoteAt(v.data[v.pos:]) + " " + context}
}

// quoteAt quotes the character starting b as encoding/json does in its messages.
func quoteAt(b []byte) string {
	r, size := utf8.DecodeRune(b)
	if r == utf8.RuneError && size == 1 {
		return `'\x` + strconv.FormatUint(uint64(b[0]), 16) + `'`
	}
	return strconv.QuoteRune(r)
}

func (v *validator) value() error {
	c, ok := v.next()
	if !ok {
		return errEnd
	}
	switch {
	case c == '{':
		return v.object()
	case c == '[':
		return v.array()
	case c == '"':
		return v.str()
	case c == '-' || c >= '0' && c <= '9':
		return v.number()
	case c == 't':
		return v.word("true")
	case c == 'f':
		return v.word("false")
	case c == 'n':
		return v.word("null")
	}
	return v.invalid(c, "looking for beginning of value")
}

func (v *validator) nest() error {
	v.depth++
	if v.depth > maxDepth {
		return &SyntaxError{"exceeded max depth"}
	}
	v.pos++
	return nil
}

func (v *validator) object() error {
	if err := v.nest(); err != nil {
		return err
	}
	c, ok := v.next()
	if ok && c == '}' {
		v.pos++
		v.depth--
		return nil
	}
	for {
		if !ok {
			return errEnd
		}
		if c != '"' {
			return v.invalid(c, "looking for beginning of object key string")
		}
		if err := v.str(); err != nil {
			return err
		}
		if c, ok = v.next(); !ok {
			return errEnd
		}
		if c != ':' {
			return v.invalid(c, "after object key")
		}
		v.pos++
		if err := v.value(); err != nil {
			return err
		}
		if c, ok = v.next(); !ok {
			return errEnd
		}
		switch c {
		case '}':
			v.pos++
			v.depth--
			return nil
		case ',':
			v.pos++
			c, ok = v.next()
		default:
			return v.invalid(c, "after object key:value pair")
		}
	}
}

func (v *validator) array() error {
	if err := v.nest(); err != nil {
		return err
	}
	if c, ok := v.next(); ok && c == ']' {
		v.pos++
		v.depth--
		return nil
	}
	for {
		if err := v.value(); err != nil {
			return err
		}
		c, ok := v.next()
		if !ok {
			return errEnd
		}
		switch c {
		case ']':
			v.pos++
			v.depth--
			return nil
		case ',':
			v.pos++
		default:
			return v.invalid(c, "after array element")
		}
	}
}

func (v *validator) str() error {
	v.pos++
	for v.pos < len(v.data) {
		c := v.data[v.pos]
		switch {
		case c == '"':
			v.pos++
			return nil
		case c < 0x20:
			return v.invalid(c, "in string")
		case c == '\\':
			if v.pos+1 >= len(v.data) {
				return errEnd
			}
			switch v.data[v.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				v.pos += 2
				continue
			case 'u':
				if v.pos+6 > len(v.data) {
					if hexPrefix(v.data[v.pos:]) {
						return errEnd
					}
					return v.badEscape(len(v.data) - v.pos)
				}
				for _, h := range v.data[v.pos+2 : v.pos+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return v.badEscape(6)
					}
				}
				v.pos += 6
				continue
			}
			return v.badEscape(2)
		default:
			v.pos++
		}
	}
	return errEnd
}

// badEscape is the error for the n bytes of an escape sequence at the current position.
func (v *validator) badEscape(n int) error {
	what := string(v.data[v.pos : v.pos+n])
	quoted := "`" + what + "`"
	for _, r := range what {
		if r == '`' || r == utf8.RuneError || isSpace(r) || !strconv.IsPrint(r) {
			quoted = strconv.Quote(what)
			break
		}
	}
	return &SyntaxError{"invalid escape sequence " + quoted + " in string"}
}

// hexPrefix reports whether b (shorter than 6 bytes) starts a \uXXXX escape.
func hexPrefix(b []byte) bool {
	for i, c := range b {
		switch {
		case i == 0 && c != '\\', i == 1 && c != 'u':
			return false
		case i >= 2 && !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
			return false
		}
	}
	return true
}

// isSpace is unicode.IsSpace without the unicode tables.
func isSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

func (v *validator) number() error {
	if v.data[v.pos] == '-' {
		v.pos++
	}
	if v.pos >= len(v.data) {
		return errEnd
	}
	switch c := v.data[v.pos]; {
	case c == '0':
		v.pos++
	case c >= '1' && c <= '9':
		v.digits()
	default:
		return v.invalid(c, "in numeric literal")
	}
	if v.pos < len(v.data) && v.data[v.pos] == '.' {
		v.pos++
		if err := v.needDigit(); err != nil {
			return err
		}
		v.digits()
	}
	if v.pos < len(v.data) && (v.data[v.pos] == 'e' || v.data[v.pos] == 'E') {
		v.pos++
		if v.pos < len(v.data) && (v.data[v.pos] == '+' || v.data[v.pos] == '-') {
			v.pos++
		}
		if err := v.needDigit(); err != nil {
			return err
		}
		v.digits()
	}
	return nil
}

func (v *validator) needDigit() error {
	if v.pos >= len(v.data) {
		return errEnd
	}
	if c := v.data[v.pos]; c < '0' || c > '9' {
		return v.invalid(c, "in numeric literal")
	}
	return nil
}

func (v *validator) digits() {
	for v.pos < len(v.data) && v.data[v.pos] >= '0' && v.data[v.pos] <= '9' {
		v.pos++
	}
}

func (v *validator) word(w string) error {
	for i := 1; i < len(w); i++ {
		v.pos++
		if v.pos >= len(v.data) {
			return errEnd
		}
		if c := v.data[v.pos]; c != w[i] {
			return v.invalid(c, "in literal "+w+" (expecting "+strconv.QuoteRune(rune(w[i]))+")")
		}
	}
	v.pos++
	return nil
}
'''
