"""A Go plugin that misbehaves with resources, for the interrupt and caps tests and bench/limits.py.

Exports: ``nd_hog`` appends 1 MiB slices forever (unbounded memory), ``nd_big`` outputs as many
bytes as its input names (``"3221225472"``), ``nd_spin`` loops forever without a host call,
``nd_hello`` outputs ``"hello"``.
"""

from __future__ import annotations

HOG_GO = r"""
package main

import (
	"strconv"

	pdk "github.com/extism/go-pdk"
)

var keep [][]byte

//go:wasmexport nd_hog
func hog() int32 {
	for {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = 1
		}
		keep = append(keep, b)
	}
}

//go:wasmexport nd_big
func big() int32 {
	n, _ := strconv.Atoi(string(pdk.Input()))
	out := make([]byte, n)
	for i := range out {
		out[i] = 'x'
	}
	pdk.Output(out)
	return 0
}

//go:wasmexport nd_spin
func spin() int32 {
	x := 0
	for {
		x++
		if x < 0 {
			return int32(x)
		}
	}
}

//go:wasmexport nd_hello
func hello() int32 {
	pdk.OutputString("\"hello\"")
	return 0
}

func main() {}
"""


def hog_wasm() -> bytes:
    """The plugin above, built with the bundled toolchain (cached after the first build)."""
    import nd_notebook

    return nd_notebook.build(HOG_GO)

TASK_GO = r"""
package main

import (
	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/lifecycle"
	"github.com/navidrome/navidrome/plugins/pdk/go/taskworker"
)

type worker struct{}

func init() {
	lifecycle.Register(worker{})
	taskworker.Register(worker{})
}

func main() {}

func (worker) OnInit() error {
	return host.TaskCreateQueue("q", host.QueueConfig{Concurrency: 1, MaxRetries: 2, BackoffMs: 1000})
}

// OnTaskExecute: payload "spin" loops forever on attempt 1; every other attempt succeeds.
func (worker) OnTaskExecute(req taskworker.TaskExecuteRequest) (string, error) {
	if string(req.Payload) == "spin" && req.Attempt == 1 {
		x := 0
		for x >= 0 {
			x++
		}
	}
	return "done", nil
}
"""


def task_wasm() -> bytes:
    """A task worker whose first attempt at a "spin" task never ends (queue "q")."""
    import nd_notebook

    return nd_notebook.build(TASK_GO)
