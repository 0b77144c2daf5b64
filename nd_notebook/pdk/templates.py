"""Hand-written Go of the bundled PDK, kept as templates the generator writes verbatim.

``PDK_TYPES`` and ``PDK_KERNEL`` are the root package of the ``github.com/extism/go-pdk``
stand-in: the public API of Extism's Go PDK v1.1.3 written directly on the
``extism:host/env`` kernel imports (spec 9.1), with no requirement of its own. Navidrome's
``pdk`` package aliases it, as upstream does. Observable quirks of v1.1.3 are kept:
``NewHTTPRequest`` starts with an empty header map (sent as ``{}``), ``LogTrace`` goes to
``log_error``, logging consults ``get_log_level`` first, ``GetConfig``/``GetVar`` treat empty
values as missing, and ``OutputJSON``, ``Output``, ``SetError`` and ``Log`` never free their
blocks. ``HTTP_*`` and ``REACTOR_*`` are the stand-in's ``http`` and ``wasi-reactor`` packages.
``HOST_CALL_LEAN`` and ``SEND_LEAN`` are the lean PDK's host-call helper and ``Send`` (generated
codecs over the ndjson runtime); ``HOST_CALL`` and the untouched ``Send`` use encoding/json (the
``--encoding-json`` variant).
"""

from __future__ import annotations

# Untagged: types and pure-Go methods, so the package also type-checks on the host.
PDK_TYPES = """\
// Package pdk is github.com/extism/go-pdk (v1.1.3 API) for offline builds: memory, input,
// output, config, vars, logging and HTTP over the Extism kernel imports.
package pdk

// Memory is a block of Extism kernel memory.
type Memory struct {
	offset uint64
	length uint64
}

// NewMemory describes an existing block of Extism kernel memory.
func NewMemory(offset uint64, length uint64) Memory {
	return Memory{offset: offset, length: length}
}

// Length returns the size of the block in bytes.
func (m Memory) Length() uint64 {
	return m.length
}

// Offset returns the kernel offset of the block.
func (m Memory) Offset() uint64 {
	return m.offset
}

// LogLevel is the level of a log message.
type LogLevel int

// Log levels, lowest first.
const (
	LogTrace LogLevel = iota
	LogDebug
	LogInfo
	LogWarn
	LogError
)

// HTTPMethod is the verb of an HTTP request made with NewHTTPRequest.
type HTTPMethod int32

// HTTP methods.
const (
	MethodGet HTTPMethod = iota
	MethodHead
	MethodPost
	MethodPut
	MethodPatch
	MethodDelete
	MethodConnect
	MethodOptions
	MethodTrace
)

// String returns the upper-case verb.
func (m HTTPMethod) String() string {
	switch m {
	case MethodGet:
		return "GET"
	case MethodHead:
		return "HEAD"
	case MethodPost:
		return "POST"
	case MethodPut:
		return "PUT"
	case MethodPatch:
		return "PATCH"
	case MethodDelete:
		return "DELETE"
	case MethodConnect:
		return "CONNECT"
	case MethodOptions:
		return "OPTIONS"
	case MethodTrace:
		return "TRACE"
	}
	return ""
}

// HTTPRequestMeta is the JSON document the kernel's http_request import receives.
type HTTPRequestMeta struct {
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
}

// HTTPRequest is an HTTP request sent through the Extism runtime (governed by allowed_hosts).
type HTTPRequest struct {
	meta HTTPRequestMeta
	body []byte
}

// HTTPResponse is the answer to HTTPRequest.Send.
type HTTPResponse struct {
	memory  Memory
	status  uint16
	headers map[string]string
}

// NewHTTPRequest starts a request to url with no headers (an empty map, sent as {}).
func NewHTTPRequest(method HTTPMethod, url string) *HTTPRequest {
	return &HTTPRequest{meta: HTTPRequestMeta{URL: url, Method: method.String(), Headers: map[string]string{}}}
}

// SetHeader sets one request header.
func (r *HTTPRequest) SetHeader(key string, value string) *HTTPRequest {
	if r.meta.Headers == nil {
		r.meta.Headers = make(map[string]string)
	}
	r.meta.Headers[key] = value
	return r
}

// SetBody sets the request body.
func (r *HTTPRequest) SetBody(body []byte) *HTTPRequest {
	r.body = body
	return r
}

// Memory returns the kernel block holding the response body.
func (r HTTPResponse) Memory() Memory {
	return r.memory
}

// Status returns the HTTP status code.
func (r HTTPResponse) Status() uint16 {
	return r.status
}

// Headers returns the response headers (lower-case names) when the host reports them.
func (r HTTPResponse) Headers() map[string]string {
	return r.headers
}
"""

# wasip1 only: everything that reaches the kernel.
PDK_KERNEL = """\
package pdk

import (
	"encoding/binary"
	"encoding/json"
)

//go:wasmimport extism:host/env alloc
func extismAlloc(length uint64) uint64

//go:wasmimport extism:host/env free
func extismFree(offset uint64)

//go:wasmimport extism:host/env length
func extismLength(offset uint64) uint64

//go:wasmimport extism:host/env length_unsafe
func extismLengthUnsafe(offset uint64) uint64

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

//go:wasmimport extism:host/env config_get
func extismConfigGet(key uint64) uint64

//go:wasmimport extism:host/env var_get
func extismVarGet(key uint64) uint64

//go:wasmimport extism:host/env var_set
func extismVarSet(key uint64, value uint64)

//go:wasmimport extism:host/env log_info
func extismLogInfo(message uint64)

//go:wasmimport extism:host/env log_debug
func extismLogDebug(message uint64)

//go:wasmimport extism:host/env log_warn
func extismLogWarn(message uint64)

//go:wasmimport extism:host/env log_error
func extismLogError(message uint64)

//go:wasmimport extism:host/env get_log_level
func extismGetLogLevel() int32

//go:wasmimport extism:host/env http_request
func extismHTTPRequest(request uint64, body uint64) uint64

//go:wasmimport extism:host/env http_status_code
func extismHTTPStatusCode() int32

//go:wasmimport extism:host/env http_headers
func extismHTTPHeaders() uint64

// load copies len(buf) bytes from kernel memory at offset, eight at a time.
func load(offset uint64, buf []byte) {
	n := len(buf) &^ 7
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(buf[i:i+8], extismLoadU64(offset+uint64(i)))
	}
	for i := n; i < len(buf); i++ {
		buf[i] = byte(extismLoadU8(offset + uint64(i)))
	}
}

// store copies data into kernel memory at offset, eight bytes at a time.
func store(offset uint64, data []byte) {
	n := len(data) &^ 7
	for i := 0; i < n; i += 8 {
		extismStoreU64(offset+uint64(i), binary.LittleEndian.Uint64(data[i:i+8]))
	}
	for i := n; i < len(data); i++ {
		extismStoreU8(offset+uint64(i), uint32(data[i]))
	}
}

// Load copies the start of the block into buffer.
func (m Memory) Load(buffer []byte) {
	load(m.offset, buffer)
}

// Store copies data to the start of the block.
func (m Memory) Store(data []byte) {
	store(m.offset, data)
}

// Free releases the block.
func (m Memory) Free() {
	extismFree(m.offset)
}

// ReadBytes returns a copy of the whole block.
func (m Memory) ReadBytes() []byte {
	buf := make([]byte, m.length)
	load(m.offset, buf)
	return buf
}

// FindMemory returns the block at offset (an empty Memory when there is none).
func FindMemory(offset uint64) Memory {
	length := extismLength(offset)
	if length == 0 {
		return Memory{}
	}
	return Memory{offset: offset, length: length}
}

// Allocate reserves length bytes of kernel memory.
func Allocate(length int) Memory {
	size := uint64(length)
	return Memory{offset: extismAlloc(size), length: size}
}

// AllocateBytes copies data into a new block.
func AllocateBytes(data []byte) Memory {
	mem := Allocate(len(data))
	store(mem.offset, data)
	return mem
}

// AllocateString copies a string into a new block.
func AllocateString(data string) Memory {
	return AllocateBytes([]byte(data))
}

// AllocateJSON encodes v as JSON into a new block.
func AllocateJSON(v any) (Memory, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return Memory{}, err
	}
	return AllocateBytes(data), nil
}

// Input returns the call input.
func Input() []byte {
	length := extismInputLength()
	buf := make([]byte, length)
	n := len(buf) &^ 7
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(buf[i:i+8], extismInputLoadU64(uint64(i)))
	}
	for i := n; i < len(buf); i++ {
		buf[i] = byte(extismInputLoadU8(uint64(i)))
	}
	return buf
}

// InputString returns the call input as a string.
func InputString() string {
	return string(Input())
}

// InputJSON decodes the call input into v.
func InputJSON(v any) error {
	return json.Unmarshal(Input(), v)
}

// JSONFrom decodes the block at offset into v.
func JSONFrom(offset uint64, v any) error {
	return json.Unmarshal(FindMemory(offset).ReadBytes(), v)
}

// OutputMemory makes a block the call output.
func OutputMemory(mem Memory) {
	extismOutputSet(mem.offset, mem.length)
}

// Output sets the call output.
func Output(data []byte) {
	OutputMemory(AllocateBytes(data))
}

// OutputString sets the call output to a string.
func OutputString(s string) {
	Output([]byte(s))
}

// OutputJSON sets the call output to the JSON encoding of v.
func OutputJSON(v any) error {
	mem, err := AllocateJSON(v)
	if err != nil {
		return err
	}
	OutputMemory(mem)
	return nil
}

// SetError reports err as the call error.
func SetError(err error) {
	SetErrorString(err.Error())
}

// SetErrorString reports a text as the call error.
func SetErrorString(err string) {
	extismErrorSet(AllocateString(err).offset)
}

// GetConfig reads a manifest config value; an empty value counts as missing.
func GetConfig(key string) (string, bool) {
	value := lookup(extismConfigGet, key)
	if value == nil {
		return "", false
	}
	return string(value), true
}

// GetVar reads a per-instance variable (nil when unset or empty).
func GetVar(key string) []byte {
	return lookup(extismVarGet, key)
}

// GetVarInt reads a variable stored by SetVarInt (0 when unset).
func GetVarInt(key string) int {
	value := lookup(extismVarGet, key)
	if len(value) < 8 {
		return 0
	}
	return int(binary.LittleEndian.Uint64(value))
}

// SetVar stores a per-instance variable.
func SetVar(key string, value []byte) {
	keyMem := AllocateString(key)
	defer keyMem.Free()
	extismVarSet(keyMem.offset, AllocateBytes(value).offset)
}

// SetVarInt stores an integer variable (8 bytes, little-endian).
func SetVarInt(key string, value int) {
	SetVar(key, binary.LittleEndian.AppendUint64(nil, uint64(value)))
}

// RemoveVar deletes a variable.
func RemoveVar(key string) {
	keyMem := AllocateString(key)
	defer keyMem.Free()
	extismVarSet(keyMem.offset, 0)
}

// lookup asks a kernel key/value import for key; nil when absent or empty.
func lookup(get func(uint64) uint64, key string) []byte {
	keyMem := AllocateString(key)
	defer keyMem.Free()
	offset := get(keyMem.offset)
	if offset == 0 {
		return nil
	}
	length := extismLength(offset)
	if length == 0 {
		return nil
	}
	value := make([]byte, length)
	load(offset, value)
	return value
}

// LogMemory logs the text held by a block, unless below the host's log level.
func LogMemory(level LogLevel, m Memory) {
	if int32(level) < extismGetLogLevel() {
		return
	}
	logAt(level, m.offset)
}

// Log logs a text, unless below the host's log level.
func Log(level LogLevel, s string) {
	if int32(level) < extismGetLogLevel() {
		return
	}
	logAt(level, AllocateString(s).offset)
}

// logAt calls the kernel log import of a level (trace goes to log_error, as in go-pdk).
func logAt(level LogLevel, offset uint64) {
	switch level {
	case LogDebug:
		extismLogDebug(offset)
	case LogInfo:
		extismLogInfo(offset)
	case LogWarn:
		extismLogWarn(offset)
	case LogError, LogTrace:
		extismLogError(offset)
	}
}

// Send performs the request through the kernel's http_request import.
func (r *HTTPRequest) Send() HTTPResponse {
	meta, _ := json.Marshal(r.meta)
	req := AllocateBytes(meta)
	defer req.Free()
	body := AllocateBytes(r.body)
	defer body.Free()
	offset := extismHTTPRequest(req.offset, body.offset)
	length := extismLengthUnsafe(offset)
	status := uint16(extismHTTPStatusCode())
	var headers map[string]string
	if h := extismHTTPHeaders(); h != 0 {
		mem := FindMemory(h)
		_ = json.Unmarshal(mem.ReadBytes(), &headers)
		mem.Free()
	}
	return HTTPResponse{memory: Memory{offset: offset, length: length}, status: status, headers: headers}
}

// Body returns a copy of the response body.
func (r HTTPResponse) Body() []byte {
	return r.memory.ReadBytes()
}

// ParamBytes reads the block at offset (host-function parameter).
func ParamBytes(offset uint64) []byte {
	return FindMemory(offset).ReadBytes()
}

// ParamString reads the block at offset as a string.
func ParamString(offset uint64) string {
	return string(ParamBytes(offset))
}

// ParamU32 reads a little-endian uint32 from the block at offset.
func ParamU32(offset uint64) uint32 {
	return binary.LittleEndian.Uint32(ParamBytes(offset))
}

// ParamU64 reads a little-endian uint64 from the block at offset.
func ParamU64(offset uint64) uint64 {
	return binary.LittleEndian.Uint64(ParamBytes(offset))
}

// ResultBytes copies d into a new block and returns its offset.
func ResultBytes(d []byte) uint64 {
	return AllocateBytes(d).offset
}

// ResultString copies s into a new block and returns its offset.
func ResultString(s string) uint64 {
	return AllocateString(s).offset
}

// ResultU32 stores a little-endian uint32 in a new block and returns its offset.
func ResultU32(d uint32) uint64 {
	return ResultBytes(binary.LittleEndian.AppendUint32(nil, d))
}

// ResultU64 stores a little-endian uint64 in a new block and returns its offset.
func ResultU64(d uint64) uint64 {
	return ResultBytes(binary.LittleEndian.AppendUint64(nil, d))
}
"""

# Edits of PDK_KERNEL for the lean PDK: HTTPRequest.Send over the stand-in's own ndjson copy.
SEND_LEAN = (
    ('\t"encoding/json"\n)', '\t"encoding/json"\n\n\t"github.com/extism/go-pdk/internal/ndjson"\n)'),
    ("\tmeta, _ := json.Marshal(r.meta)\n",
     ("\te := ndjson.NewEncoder()\n\tencodeMeta(e, &r.meta)\n"
      "\tmeta, _ := e.Result()\n")),
    ("\t\t_ = json.Unmarshal(mem.ReadBytes(), &headers)\n",
     ("\t\t_ = ndjson.Unmarshal(mem.ReadBytes(), \"\", func(d *ndjson.Decoder) {\n"
      "\t\t\tndjson.Map(d, &headers, \"map[string]string\", ndjson.String)\n\t\t})\n")),
    ("// Body returns a copy of the response body.", """\
// encodeMeta writes the http_request document as encoding/json writes HTTPRequestMeta.
func encodeMeta(e *ndjson.Encoder, m *HTTPRequestMeta) {
	e.BeginObject()
	e.Key(`"url":`)
	e.String(m.URL)
	e.Key(`"method":`)
	e.String(m.Method)
	e.Key(`"headers":`)
	ndjson.WriteMap(e, m.Headers, func(e *ndjson.Encoder, v *string) { e.String(*v) })
	e.EndObject()
}

// Body returns a copy of the response body."""),
)

# wasip1 only: the one helper every host wrapper uses (spec 8.1).
HOST_CALL = """\
package host

import (
	"encoding/json"

	"github.com/navidrome/navidrome/plugins/pdk/go/pdk"
)

// call sends a JSON request to a Navidrome host function and decodes its JSON response.
// A nil request is sent as {} (functions without parameters).
func call(fn func(uint64) uint64, request any, response any) error {
	payload := []byte("{}")
	if request != nil {
		data, err := json.Marshal(request)
		if err != nil {
			return err
		}
		payload = data
	}
	reqMem := pdk.AllocateBytes(payload)
	defer reqMem.Free()
	respMem := pdk.FindMemory(fn(reqMem.Offset()))
	return json.Unmarshal(respMem.ReadBytes(), response)
}
"""

# wasip1 only: the helper every host wrapper uses, over the generated codecs (no encoding/json).
HOST_CALL_LEAN = """\
package host

import (
	"github.com/navidrome/navidrome/plugins/pdk/go/internal/kernel"
	"github.com/navidrome/navidrome/plugins/pdk/go/internal/ndjson"
)

// call sends a JSON request to a Navidrome host function and decodes its JSON response into
// the value response fills; root names the response type in decoding errors. A nil request is
// sent as {} (functions without parameters).
func call(fn func(uint64) uint64, request func(*ndjson.Encoder), response func(*ndjson.Decoder), root string) error {
	payload := []byte("{}")
	if request != nil {
		e := ndjson.NewEncoder()
		request(e)
		data, err := e.Result()
		if err != nil {
			return err
		}
		payload = data
	}
	return ndjson.Unmarshal(kernel.Call(fn, payload), root, response)
}
"""

SCROBBLER_ERRORS = """\
// ScrobblerError is an error a scrobbler returns; Navidrome classifies it by substring.
type ScrobblerError string

// Error returns the error text.
func (e ScrobblerError) Error() string {
	return string(e)
}

// Errors Navidrome recognises (anything else counts as unrecoverable).
const (
	ScrobblerErrorNotAuthorized ScrobblerError = "scrobbler(not_authorized)"
	ScrobblerErrorRetryLater    ScrobblerError = "scrobbler(retry_later)"
	ScrobblerErrorUnrecoverable ScrobblerError = "scrobbler(unrecoverable)"
)
"""

# github.com/extism/go-pdk/http, untagged part: the type, so it exists on every platform.
HTTP_TYPES = """\
// Package http lets a plugin use Go's net/http client over the Extism kernel's http_request
// import, as github.com/extism/go-pdk/http does: set http.DefaultTransport (or a Client's
// Transport) to &HTTPTransport{}. Requests are governed by the manifest's allowed_hosts.
package http

// HTTPTransport is an http.RoundTripper that sends requests through the Extism runtime.
type HTTPTransport struct{}
"""

# github.com/extism/go-pdk/http, wasip1 only: the round trip through the kernel.
HTTP_KERNEL = """\
package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	pdk "github.com/extism/go-pdk"
)

//go:wasmimport extism:host/env http_request
func extismHTTPRequest(request uint64, body uint64) uint64

//go:wasmimport extism:host/env http_status_code
func extismHTTPStatusCode() int32

//go:wasmimport extism:host/env http_headers
func extismHTTPHeaders() uint64

//go:wasmimport extism:host/env length_unsafe
func extismLengthUnsafe(offset uint64) uint64

// RoundTrip sends req through http_request: header values are joined with ",", the body is
// read whole, and the answer's headers come from http_headers (no body for HEAD).
func (t *HTTPTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	headers := map[string]string{}
	for name, values := range req.Header {
		headers[name] = strings.Join(values, ",")
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	meta, err := json.Marshal(pdk.HTTPRequestMeta{URL: req.URL.String(), Method: method, Headers: headers})
	if err != nil {
		return nil, fmt.Errorf("failed to encode request headers: %q", err)
	}
	metaMem := pdk.AllocateBytes(meta)
	defer metaMem.Free()
	var bodyOffset uint64
	if req.Body != nil {
		data, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("failed to read body bytes: %q", err)
		}
		bodyMem := pdk.AllocateBytes(data)
		defer bodyMem.Free()
		bodyOffset = bodyMem.Offset()
	}
	offset := extismHTTPRequest(metaMem.Offset(), bodyOffset)
	length := extismLengthUnsafe(offset)
	status := int(extismHTTPStatusCode())
	resp := &http.Response{
		Status:        http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{},
		Body:          http.NoBody,
		ContentLength: -1,
		Request:       req,
	}
	if h := extismHTTPHeaders(); h != 0 {
		mem := pdk.FindMemory(h)
		var received map[string]string
		_ = json.Unmarshal(mem.ReadBytes(), &received)
		mem.Free()
		for name, value := range received {
			resp.Header.Add(name, value)
		}
	}
	if method != http.MethodHead && length > 0 {
		body := pdk.NewMemory(offset, length).ReadBytes()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(length)
	}
	return resp, nil
}
"""

# github.com/extism/go-pdk/wasi-reactor: nothing to do under standard Go, whose
# -buildmode=c-shared already exports _initialize.
REACTOR_DOC = """\
// Package reactor is github.com/extism/go-pdk/wasi-reactor: imported for its side effect by
// TinyGo plugins that use WASI from exports other than main, it exports _initialize (which runs
// __wasm_call_ctors). Under standard Go it is empty: -buildmode=c-shared exports _initialize.
package reactor
"""

# github.com/extism/go-pdk/wasi-reactor under TinyGo.
REACTOR_TINYGO = """\
package reactor

//export __wasm_call_ctors
func __wasm_call_ctors()

//export _initialize
func _initialize() {
	__wasm_call_ctors()
}
"""

# Every capability package (the value upstream's generated exports return).
NOT_IMPLEMENTED = """\
// NotImplementedCode is what an export returns when the plugin does not implement it;
// Navidrome then skips the plugin for that call.
const NotImplementedCode int32 = -2
"""
