// Copyright 2023 CloudWeGo Authors
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//    http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

//go:build linux && race
// +build linux,race

package netpoll

import (
	"sync/atomic"
	"unsafe"
)

// Patched for Tether (see README.md): an event names the registration it
// was reported for, not only the descriptor number.
//
// A race build cannot keep the operator's pointer in the event, so the
// event carries the number and the poller looks the operator up by it. A
// connection closed by another goroutine after epoll_wait returned, whose
// number a connection accepted later in the same batch got, then had the
// old connection's event applied to the new one: a stale hangup closed a
// connection that had just been accepted (its client read EOF or a reset).
// Each registration now gets a generation, carried in the event's spare
// half and checked on lookup; an event from an earlier registration of the
// number is dropped, as the pointer build drops an event for a freed
// operator.

type eventdata struct {
	fd  int32
	gen int32 // the registration the event belongs to
}

// raceOperator is the operator registered for a number, and its generation.
type raceOperator struct {
	op  *FDOperator
	gen int32
}

// raceGen numbers registrations; it may wrap, since only an event still in
// flight from the previous registration of the same number is compared.
var raceGen int32

func (p *defaultPoll) getOperator(fd int, ptr unsafe.Pointer) *FDOperator {
	data := *(*eventdata)(ptr)
	tmp, _ := p.m.Load(int(data.fd))
	if tmp == nil {
		return nil
	}
	if r := tmp.(raceOperator); r.gen == data.gen {
		return r.op
	}
	return nil // the number has been registered again since this event was reported
}

func (p *defaultPoll) setOperator(ptr unsafe.Pointer, operator *FDOperator) {
	fd := operator.FD
	var gen int32
	if tmp, _ := p.m.Load(fd); tmp != nil && tmp.(raceOperator).op == operator {
		gen = tmp.(raceOperator).gen // a change of the registration's events keeps its generation
	} else {
		gen = atomic.AddInt32(&raceGen, 1)
		p.m.Store(fd, raceOperator{op: operator, gen: gen})
	}
	*(*eventdata)(ptr) = eventdata{fd: int32(fd), gen: gen}
}

func (p *defaultPoll) delOperator(operator *FDOperator) {
	// Only the operator's own entry: its number is still open (a connection
	// detaches before it closes), so nobody can have registered it since.
	if tmp, _ := p.m.Load(operator.FD); tmp != nil && tmp.(raceOperator).op == operator {
		p.m.Delete(operator.FD)
	}
}
