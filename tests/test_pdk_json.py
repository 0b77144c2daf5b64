"""The bundled PDK's generated JSON codecs against the toolchain's encoding/json, byte for byte.

A copy of the PDK gets a corpus harness (``internal/corpus``) and, in every package with JSON
types, a test naming each type's generated encoder and decoder. ``go test`` (native, offline,
caches under the project cache folder) then, for every type:

- encodes hand-picked and seeded random values (edge strings and bytes: <>&, U+2028/U+2029,
  control characters, invalid UTF-8; floats at the 1e-6/1e21 format thresholds, -0, extremes;
  nil and empty slices and maps, nil pointers, zero values) with both encoders and compares the
  bytes, and infinite floats for the same error;
- decodes documents generated from the type (keys in other cases, with U+017F/U+212A, escaped;
  unknown members; nulls; repeated keys; values of the wrong kind or out of range; string
  escapes, surrogates and raw invalid UTF-8; base64 variants) and their byte-level mutations
  (truncated, inserted, replaced bytes) with both decoders, comparing the error text and, unless
  the input is malformed, the decoded values.

The wasm side of the same code runs in the wire tests (test_pdk.py, test_pdk_parity.py...);
here two plugins built with the bundled PDK also show what it links: nothing of encoding/json,
fmt or reflect without an import of ``pdk``, and no JSON coding with one.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from nd_notebook import abi
from nd_notebook.pdk import GO_DIR, MODULE
from nd_notebook.pdk.generate import _wire_structs

pytestmark = pytest.mark.slow

RANDOM_VALUES = 400  # per type
RANDOM_DOCUMENTS = 400  # per type, each also mutated

HARNESS = r'''package corpus

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/navidrome/navidrome/plugins/pdk/go/internal/ndjson"
)

const (
	randomValues    = RANDOM_VALUES
	randomDocuments = RANDOM_DOCUMENTS
)

var edgeStrings = []string{
	"", "a", "<script>&amp;</script>", "\u2028\u2029", "line\u2028sep", "\xff", "a\xffb", "\xed\xa0\x80",
	"\xc3", "\xe2\x82", "é", "日本語", "😀", "\x00\x01\x1f\x7f", "\"\\/", "\b\f\n\r\t", "\ufffd", "\uffff",
	"\U0010ffff", "ſK", "~/", "0", "12", "null", " ", "\u0085\u00a0\u00ad", "\xf4\x90\x80\x80",
}

var edgeFloats = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.1, 1e21, 1e20, 999999999999999999999, 1e-6, 1e-7, 9.99999e-7,
	0.000001000001, 5e-324, math.MaxFloat64, -math.MaxFloat64, 123456789.125, 1.5e300, -2.5e-300,
	100, 1e6, 12345678901234567890, 0.3, 2.5e-8, math.MaxFloat32, math.SmallestNonzeroFloat32,
}

// Check compares the generated codec of T with encoding/json on the whole corpus.
func Check[T any](t *testing.T, enc func(*ndjson.Encoder, *T), dec func(*ndjson.Decoder, *T)) {
	typ := reflect.TypeFor[T]()
	c := checker[T]{t: t, enc: enc, dec: dec, root: typ.Name(), g: gen{r: rand.New(rand.NewSource(int64(len(typ.Name()) * 7919)))}}
	var zero T
	c.encode(zero)
	c.encode(c.full())
	for i := 0; i < randomValues; i++ {
		var v T
		c.g.fill(reflect.ValueOf(&v).Elem(), 0, 0.6)
		c.encode(v)
		c.infinite(v)
	}
	docs := []string{"null", "{}", "[]", `""`, "0", "true", " {} ", `{"":1}`}
	for i := 0; i < randomDocuments; i++ {
		docs = append(docs, c.g.doc(typ, 0))
	}
	for _, doc := range docs {
		c.decode([]byte(doc))
		for j := 0; j < 3; j++ {
			c.decode(c.g.mutate([]byte(doc)))
		}
	}
	for _, doc := range syntaxCorpus {
		c.decode([]byte(doc))
	}
	if c.failures > 0 {
		t.Errorf("%s: %d of %d checks differ from encoding/json", typ, c.failures, c.checks)
	}
	fmt.Printf("CORPUS %s %d\n", typ, c.checks)
}

type checker[T any] struct {
	t        *testing.T
	enc      func(*ndjson.Encoder, *T)
	dec      func(*ndjson.Decoder, *T)
	root     string
	g        gen
	checks   int
	failures int
}

func (c *checker[T]) fail(format string, args ...any) {
	c.failures++
	if c.failures <= 8 {
		c.t.Errorf(format, args...)
	}
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func (c *checker[T]) encode(v T) {
	c.checks++
	want, wantErr := json.Marshal(&v)
	e := ndjson.NewEncoder()
	c.enc(e, &v)
	got, gotErr := e.Result()
	if errText(wantErr) != errText(gotErr) || string(want) != string(got) {
		c.fail("encode %#v:\n json:   %s %v\n ndjson: %s %v", v, want, wantErr, got, gotErr)
		return
	}
	if wantErr == nil {
		c.decode(want)
	}
}

// infinite puts +Inf or -Inf in the first float the value reaches, if any.
func (c *checker[T]) infinite(v T) {
	if setInf(reflect.ValueOf(&v).Elem(), c.g.r.Intn(2) == 0) {
		c.encode(v)
	}
}

func setInf(v reflect.Value, negative bool) bool {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		v.SetFloat(math.Inf(map[bool]int{true: -1, false: 1}[negative]))
		return true
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if setInf(v.Field(i), negative) {
				return true
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			return setInf(v.Elem(), negative)
		}
	case reflect.Slice:
		if v.Len() > 0 {
			return setInf(v.Index(0), negative)
		}
	}
	return false
}

func (c *checker[T]) decode(doc []byte) {
	c.checks++
	var want, got T
	wantErr := json.Unmarshal(doc, &want)
	gotErr := ndjson.Unmarshal(doc, c.root, func(d *ndjson.Decoder) { c.dec(d, &got) })
	if errText(wantErr) != errText(gotErr) {
		c.fail("decode %q:\n json:   %v\n ndjson: %v", doc, wantErr, gotErr)
		return
	}
	var typeErr *json.UnmarshalTypeError
	if wantErr != nil && !errors.As(wantErr, &typeErr) {
		return // malformed input: encoding/json may have filled part of the value
	}
	a, _ := json.Marshal(&want)
	b, _ := json.Marshal(&got)
	if !reflect.DeepEqual(want, got) || string(a) != string(b) {
		c.fail("decode %q (error %v):\n json:   %#v\n ndjson: %#v", doc, wantErr, want, got)
	}
}

// full is a value with every field set, floats and strings at their edges.
func (c *checker[T]) full() T {
	var v T
	c.g.fill(reflect.ValueOf(&v).Elem(), 0, 1)
	return v
}

type gen struct{ r *rand.Rand }

func (g *gen) str() string {
	switch g.r.Intn(5) {
	case 0, 1:
		return edgeStrings[g.r.Intn(len(edgeStrings))]
	case 2:
		b := make([]byte, g.r.Intn(8))
		for i := range b {
			b[i] = byte(g.r.Intn(256))
		}
		return string(b)
	default:
		var sb strings.Builder
		for n := g.r.Intn(6); n > 0; n-- {
			switch g.r.Intn(5) {
			case 0:
				sb.WriteByte(byte(0x20 + g.r.Intn(0x60)))
			case 1:
				sb.WriteRune(rune(g.r.Intn(0x800)))
			case 2:
				sb.WriteRune(rune(0x2000 + g.r.Intn(0x100)))
			case 3:
				sb.WriteRune(rune(0x10000 + g.r.Intn(0x100000)))
			default:
				sb.WriteString(edgeStrings[g.r.Intn(len(edgeStrings))])
			}
		}
		return sb.String()
	}
}

func (g *gen) float(bits int) float64 {
	var f float64
	switch g.r.Intn(4) {
	case 0:
		f = edgeFloats[g.r.Intn(len(edgeFloats))]
	case 1:
		f = math.Float64frombits(g.r.Uint64())
		if bits == 32 {
			f = float64(math.Float32frombits(g.r.Uint32()))
		}
	case 2:
		f = g.r.NormFloat64() * math.Pow(10, float64(g.r.Intn(50)-25))
	default:
		f = float64(g.r.Int63n(1<<53)) / math.Pow(10, float64(g.r.Intn(12)))
	}
	if bits == 32 {
		f = float64(float32(f))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0.5
	}
	return f
}

func (g *gen) integer(bits int, unsigned bool) uint64 {
	switch g.r.Intn(4) {
	case 0:
		return uint64(g.r.Intn(3))
	case 1:
		if unsigned {
			return 1<<bits - 1
		}
		if g.r.Intn(2) == 0 {
			return uint64(1<<(bits-1) - 1)
		}
		return uint64(int64(-1) << (bits - 1))
	}
	n := g.r.Uint64() >> (64 - bits)
	if !unsigned && n >= 1<<(bits-1) {
		n |= ^uint64(0) << bits // sign-extend
	}
	return n
}

// fill sets v to a random value; each struct field is set with probability p.
func (g *gen) fill(v reflect.Value, depth int, p float64) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(g.str())
	case reflect.Bool:
		v.SetBool(g.r.Intn(2) == 0)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(int64(g.integer(v.Type().Bits(), false)))
	case reflect.Uint, reflect.Uint8, reflect.Uint32, reflect.Uint64:
		v.SetUint(g.integer(v.Type().Bits(), true))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(g.float(v.Type().Bits()))
	case reflect.Slice:
		switch g.r.Intn(4) {
		case 0:
			v.SetZero()
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		default:
			n := 1 + g.r.Intn(3)
			if v.Type().Elem().Kind() == reflect.Uint8 {
				n = g.r.Intn(10)
			}
			s := reflect.MakeSlice(v.Type(), n, n)
			for i := 0; i < n; i++ {
				g.fill(s.Index(i), depth+1, p)
			}
			v.Set(s)
		}
	case reflect.Map:
		switch g.r.Intn(4) {
		case 0:
			v.SetZero()
		case 1:
			v.Set(reflect.MakeMap(v.Type()))
		default:
			m := reflect.MakeMap(v.Type())
			for n := 1 + g.r.Intn(5); n > 0; n-- {
				e := reflect.New(v.Type().Elem()).Elem()
				g.fill(e, depth+1, p)
				m.SetMapIndex(reflect.ValueOf(g.str()), e)
			}
			v.Set(m)
		}
	case reflect.Pointer:
		if g.r.Intn(3) == 0 && p < 1 {
			v.SetZero()
			return
		}
		e := reflect.New(v.Type().Elem())
		g.fill(e.Elem(), depth+1, p)
		v.Set(e)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if g.r.Float64() < p {
				g.fill(v.Field(i), depth+1, p)
			}
		}
	}
}

// ---- documents -------------------------------------------------------------------------

func (g *gen) space() string {
	return [...]string{"", "", "", " ", "\n\t", "\r\n  "}[g.r.Intn(6)]
}

func (g *gen) quote(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			sb.WriteString(`\` + string(r))
		case r < 0x20 || g.r.Intn(10) == 0:
			if r > 0xffff {
				r1, r2 := 0xd800+((r-0x10000)>>10), 0xdc00+((r-0x10000)&0x3ff)
				sb.WriteString(fmt.Sprintf(`\u%04x\u%04X`, r1, r2))
			} else {
				sb.WriteString(fmt.Sprintf(`\u%04x`, r))
			}
		default:
			sb.WriteRune(r)
		}
	}
	switch g.r.Intn(12) {
	case 0:
		sb.WriteString(`\ud800`)
	case 1:
		sb.WriteString(`\udc00x`)
	case 2:
		sb.WriteString("\xff\xed\xa0\x80")
	case 3:
		sb.WriteString(`\/\b\f\n\r\t`)
	}
	sb.WriteByte('"')
	return sb.String()
}

var numbers = []string{"0", "-0", "1", "-1", "1.5", "1e2", "1E+2", "-1.0e-2", "255", "256", "-129", "127",
	"2147483647", "2147483648", "-2147483648", "-2147483649", "4294967295", "4294967296",
	"9223372036854775807", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
	"1e400", "-1e400", "1e-400", "3.4028235e38", "3.5e38", "1e-46", "0.000001", "123456789.125",
	"1.7976931348623157e308", "1.8e308", "4.9e-324"}

var base64s = []string{`""`, `"aGk="`, `"aGk"`, `"aG=k"`, `"aGk=\n"`, `"aG\r\nk="`, `"YQ=="`, `"YQ="`, `"!!"`, `"aGVsbG8gd29ybGQ="`, `"____"`, `"a+/="`}

// doc is a JSON document loosely shaped like t: mostly fitting, sometimes not.
func (g *gen) doc(t reflect.Type, depth int) string {
	if depth > 6 {
		return "null"
	}
	switch g.r.Intn(20) {
	case 0:
		return "null"
	case 1:
		return g.anyDoc(depth + 1)
	}
	switch t.Kind() {
	case reflect.String:
		return g.quote(g.str())
	case reflect.Bool:
		return [...]string{"true", "false"}[g.r.Intn(2)]
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint32, reflect.Uint64:
		if g.r.Intn(2) == 0 {
			return strconv.FormatInt(int64(g.integer(t.Bits(), t.Kind() >= reflect.Uint)), 10)
		}
		return numbers[g.r.Intn(len(numbers))]
	case reflect.Float32, reflect.Float64:
		if g.r.Intn(2) == 0 {
			b, _ := json.Marshal(g.float(64))
			return string(b)
		}
		return numbers[g.r.Intn(len(numbers))]
	case reflect.Pointer:
		return g.doc(t.Elem(), depth)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && g.r.Intn(4) != 0 {
			if g.r.Intn(2) == 0 {
				b := make([]byte, g.r.Intn(12))
				g.r.Read(b)
				out, _ := json.Marshal(b)
				return string(out)
			}
			return base64s[g.r.Intn(len(base64s))]
		}
		parts := []string{}
		for n := g.r.Intn(4); n > 0; n-- {
			parts = append(parts, g.space()+g.doc(t.Elem(), depth+1)+g.space())
		}
		return "[" + strings.Join(parts, ",") + "]"
	case reflect.Map:
		parts := []string{}
		for n := g.r.Intn(4); n > 0; n-- {
			parts = append(parts, g.quote(g.str())+g.space()+":"+g.space()+g.doc(t.Elem(), depth+1))
		}
		return "{" + g.space() + strings.Join(parts, ","+g.space()) + "}"
	case reflect.Struct:
		var parts []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			for n := g.r.Intn(3); n > 0 || g.r.Intn(3) == 0; n-- {
				parts = append(parts, g.quote(g.keyVariant(name))+g.space()+":"+g.space()+g.doc(f.Type, depth+1))
			}
		}
		for n := g.r.Intn(3); n > 0; n-- {
			parts = append(parts, g.quote(g.str())+":"+g.anyDoc(depth+1))
		}
		g.r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
		return "{" + g.space() + strings.Join(parts, g.space()+","+g.space()) + g.space() + "}"
	}
	return "null"
}

// keyVariant spells a field name as encoding/json may or may not match it.
func (g *gen) keyVariant(name string) string {
	switch g.r.Intn(9) {
	case 0:
		return strings.ToUpper(name)
	case 1:
		return strings.ToLower(name)
	case 2:
		b := []byte(name)
		for i := range b {
			if g.r.Intn(2) == 0 && b[i] >= 'a' && b[i] <= 'z' {
				b[i] -= 32
			}
		}
		return string(b)
	case 3:
		return strings.NewReplacer("s", "ſ", "S", "ſ", "k", "\u212a", "K", "\u212a").Replace(name)
	case 4:
		if len(name) > 1 {
			return name[:1] + "_" + name[1:]
		}
	case 5:
		return name + "x"
	}
	return name
}

// anyDoc is a random JSON value of any kind.
func (g *gen) anyDoc(depth int) string {
	if depth > 5 {
		return "1"
	}
	switch g.r.Intn(7) {
	case 0:
		return "null"
	case 1:
		return "true"
	case 2:
		return numbers[g.r.Intn(len(numbers))]
	case 3:
		return g.quote(g.str())
	case 4:
		return "[" + g.anyDoc(depth+1) + "," + g.space() + g.anyDoc(depth+1) + "]"
	case 5:
		return "{" + g.quote(g.str()) + ":" + g.anyDoc(depth+1) + "}"
	}
	return "[]"
}

// mutate truncates the document, or inserts, deletes or replaces one byte.
func (g *gen) mutate(doc []byte) []byte {
	if len(doc) == 0 {
		return []byte{byte(g.r.Intn(256))}
	}
	i := g.r.Intn(len(doc))
	out := append([]byte(nil), doc[:i]...)
	special := []byte("{}[],:\"\\ tfn0-.eE+u\x00\xff")
	c := special[g.r.Intn(len(special))]
	switch g.r.Intn(4) {
	case 0:
		return out
	case 1:
		return append(append(out, c), doc[i:]...)
	case 2:
		return append(out, doc[i+1:]...)
	}
	return append(append(out, c), doc[i+1:]...)
}

var syntaxCorpus = []string{
	"", " ", "x", "-", "-x", "1.", "1.x", "1e", "1ex", "1e+", "1e+x", "01", "00", "-01", "t", "tru",
	"trux", "nul", "nulx", "fals", "falsx", "True", "{", `{"`, `{"a`, `{"a"`, `{"a":`, `{"a":1`,
	`{"a":1,`, "{x", `{"a"x`, `{"a":x`, `{"a":1x`, `{"a":1,x`, "{,}", `{"a":1,}`, "[", "[1", "[1,",
	"[x", "[1x", "[1,x", "[,]", "[1,]", "[1 2]", "]", "}", ":", ",", `"`, `"abc`, `"a\`, `"a\u12`,
	`"a\u12x4"`, `"\q"`, `"\x"`, "\"a\x01\"", "\"a\x1f\"", "\xff", "\"\xff\"", "{} {}", "{}x",
	"1 2", `"a" "b"`, "\x00", "'a'", "{'a':1}", `{"a":1}}`, "[]]", "1}", `{"a":[1,2}`,
	`{"a":{"b":1]}`, "nan", "NaN", "Infinity", "+1", ".5", "1.5e", "--1", "1.5.5", `{"a":tru}`,
	"[nul]", "\ufeff{}", "{\"a\":1}\x00", `{"a":"\u00"}`, `{"\q":1}`, "\"\\\xc3\xa9\"", `"\u0"`,
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000),
	`{"id":"` + strings.Repeat("\xff", 100) + `"}`,
}

// FoldMatchesEqualFold checks ndjson.FoldEqual against strings.EqualFold for every rune
// against every ASCII letter and digit.
func FoldMatchesEqualFold(t *testing.T) {
	names := "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if r >= 0xd800 && r < 0xe000 {
			continue
		}
		key := []byte(string(r))
		for i := 0; i < len(names); i++ {
			if ndjson.FoldEqual(key, names[i:i+1]) != strings.EqualFold(string(r), names[i:i+1]) {
				t.Errorf("FoldEqual(%q, %q) disagrees with strings.EqualFold", r, names[i])
			}
		}
	}
}
'''


def _struct_lists() -> dict[str, list[tuple[str, str]]]:
    """package folder -> [(encoder, decoder)] for every JSON type."""
    out: dict[str, list[tuple[str, str]]] = {}
    for s in abi.STRUCTS:
        if s.package == "types":
            out.setdefault("internal/ndjson", []).append(
                (f"ndjson.Encode{s.name}", f"ndjson.Decode{s.name}"))
        else:
            stem = s.name[0].upper() + s.name[1:]
            out.setdefault(s.package, []).append((f"encode{stem}", f"decode{stem}"))
    for f in abi.HOST_FUNCTIONS:
        for w in _wire_structs(f):
            stem = w.name[0].upper() + w.name[1:]
            out["host"].append((f"encode{stem}", f"decode{stem}"))
    return out


def _test_file(folder: str, codecs: list[tuple[str, str]]) -> str:
    external = folder == "internal/ndjson"
    package = "ndjson_test" if external else folder
    imports = [f'"{MODULE}/internal/corpus"', f'"{MODULE}/internal/ndjson"', '"testing"']
    lines = [f"package {package}", "", "import ("] + [f"\t{i}" for i in sorted(imports)]
    lines += [")", "", "var _ ndjson.Encoder", "", "func TestCorpus(t *testing.T) {"]
    lines += [f"\tcorpus.Check(t, {enc}, {dec})" for enc, dec in codecs]
    if external:
        lines += ["\tcorpus.FoldMatchesEqualFold(t)"]
    return "\n".join(lines + ["}", ""])


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory) -> subprocess.CompletedProcess:
    from nd_notebook.build import go_env
    from nd_notebook.build.toolchain import resolve_go

    root = tmp_path_factory.mktemp("pdk") / "go"
    shutil.copytree(GO_DIR, root)
    harness = HARNESS.replace("RANDOM_VALUES", str(RANDOM_VALUES))
    harness = harness.replace("RANDOM_DOCUMENTS", str(RANDOM_DOCUMENTS))
    (root / "internal" / "corpus").mkdir()
    (root / "internal" / "corpus" / "corpus.go").write_text(harness)
    for folder, codecs in _struct_lists().items():
        (root / folder / "zz_corpus_test.go").write_text(_test_file(folder, codecs))
    tc = resolve_go()
    env = go_env(tc)
    env.pop("GOOS")
    env.pop("GOARCH")
    env["GOTOOLCHAIN"] = "local"
    return subprocess.run([str(tc.path), "test", "-count=1", "-v", "-run", "TestCorpus", "./..."], cwd=root, env=env,
                          capture_output=True, text=True, errors="replace", check=False,
                          timeout=1200)


def test_generated_codecs_write_and_read_json_as_encoding_json_does(corpus_run):
    assert corpus_run.returncode == 0, (corpus_run.stdout + corpus_run.stderr)[-20000:]


def test_corpus_covers_every_json_type_of_the_pdk(corpus_run):
    checked = dict(re.findall(r"^CORPUS (\S+) (\d+)$", corpus_run.stdout, re.MULTILINE))
    expected = sum(len(c) for c in _struct_lists().values())
    assert len(checked) == expected
    assert min(int(n) for n in checked.values()) > RANDOM_VALUES + RANDOM_DOCUMENTS


# ---- what a plugin links ---------------------------------------------------------------------

AGENT = """\
package main

import (
{imports}
	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/metadata"
)

type agent struct{{}}

func (agent) GetArtistBiography(req metadata.ArtistRequest) (*metadata.ArtistBiographyResponse, error) {{
	{log}
	bio, _, err := host.CacheGetString("bio:" + req.Name)
	return &metadata.ArtistBiographyResponse{{Biography: bio}}, err
}}

func init() {{ metadata.Register(agent{{}}) }}

func main() {{}}
"""


def test_plugin_not_importing_pdk_links_no_encoding_json_fmt_or_reflect():
    from nd_notebook import build

    wasm = build(AGENT.format(imports="", log=""))
    names = [b"encoding/json", b"encoding_json", b"fmt.", b"reflect.Value."]
    assert [n for n in names if n in wasm] == []


def test_plugin_importing_pdk_without_its_json_helpers_links_no_encoding_json():
    from nd_notebook import build

    source = AGENT.format(imports='\t"github.com/navidrome/navidrome/plugins/pdk/go/pdk"',
                          log='pdk.Log(pdk.LogInfo, "biography of "+req.Name)')
    wasm = build(source)
    # InputJSON... reach encoding/json through go-pdk/stdjson (tests/test_pdk_stdjson.py)
    assert [n for n in (b"encoding/json", b"encoding_json") if n in wasm] == []
