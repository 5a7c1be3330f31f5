package stack

import (
	"encoding/json"
	"net/http"
	"runtime"
	"runtime/debug"
)

// MemoryStats is the body of the admin endpoint /debug/memory: the Go
// runtime's view of the process's memory, for capacity measurements (tether
// bench reads it to split RSS into heap and the rest).
type MemoryStats struct {
	HeapAlloc    uint64 `json:"heap_alloc"`    // bytes of live and not yet collected heap objects
	HeapInuse    uint64 `json:"heap_inuse"`    // bytes in heap spans holding objects
	HeapIdle     uint64 `json:"heap_idle"`     // heap bytes not in use, released or not
	HeapReleased uint64 `json:"heap_released"` // heap bytes returned to the OS
	HeapObjects  uint64 `json:"heap_objects"`  // live heap objects
	StackInuse   uint64 `json:"stack_inuse"`   // bytes of goroutine stacks
	Sys          uint64 `json:"sys"`           // bytes obtained from the OS in total
	NumGC        uint32 `json:"num_gc"`
	Goroutines   int    `json:"goroutines"`
}

// memoryHandler serves /debug/memory. GET reports MemoryStats; POST first
// collects garbage twice and returns every free page to the OS
// (debug.FreeOSMemory), so that successive RSS readings compare settled
// states rather than whatever the scavenger has not yet released. POST
// costs two full collections: it is an operator tool, on the private
// admin port only.
func memoryHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		// The first collection moves sync.Pool contents (write buffers,
		// netpoll's buffer cache) to the pools' victim caches, the second
		// frees them: what remains is what the process really holds, as
		// after any two GC cycles in normal operation.
		runtime.GC()
		debug.FreeOSMemory()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(MemoryStats{
		HeapAlloc:    ms.HeapAlloc,
		HeapInuse:    ms.HeapInuse,
		HeapIdle:     ms.HeapIdle,
		HeapReleased: ms.HeapReleased,
		HeapObjects:  ms.HeapObjects,
		StackInuse:   ms.StackInuse,
		Sys:          ms.Sys,
		NumGC:        ms.NumGC,
		Goroutines:   runtime.NumGoroutine(),
	})
}
