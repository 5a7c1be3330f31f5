package push

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tetherim/tether/push/wire"
)

type protocolExample struct {
	name string
	b    []byte
}

// protocolExamples are the frames PROTOCOL.md shows byte by byte.
func protocolExamples() []protocolExample {
	return []protocolExample{
		{"hello", wire.AppendHello(nil, wire.Hello{Version: 1, LastVersion: 41, Token: "TOKEN", Platform: "ios", DeviceID: "d1", AppVersion: "1.0"})},
		{"welcome", wire.AppendWelcome(nil, wire.Welcome{Version: 1, Flags: 0, CurrentVersion: 42, HeartbeatMS: 30000, MaxPayload: 65536, SessionID: "s1"})},
		{"welcome-unknown", wire.AppendWelcome(nil, wire.Welcome{Version: 1, Flags: wire.FlagVersionUnknown, CurrentVersion: 0, HeartbeatMS: 30000, MaxPayload: 65536, SessionID: "s1"})},
		{"ping", wire.AppendPing(nil, []byte{0x01, 0x02})},
		{"pong", wire.AppendPong(nil, []byte{0x01, 0x02})},
		{"message", wire.AppendMessage(nil, 42, []byte(`{"kind":"message"}`))},
		{"ack", wire.AppendAck(nil, 42)},
		{"error", wire.AppendError(nil, wire.CodeTokenExpired, "token expired")},
		{"close", wire.AppendClose(nil, wire.CodeShuttingDown, "bye")},
		{"error-limit", wire.AppendError(nil, wire.CodeTooManyConnections, "too many connections")},
		{"kick", wire.AppendKick(nil, wire.CodeReplaced, "new login on ios")},
		{"signal", wire.AppendSignal(nil, wire.Signal{Peer: 42, Kind: "typing", Data: []byte(`{"c":7}`)})},
		{"signal-empty", wire.AppendSignal(nil, wire.Signal{Peer: 7, Kind: "typing"})},
		{"push", wire.AppendPush(nil, wire.Push{ID: "p1", Body: []byte(`{"title":"hi"}`)})},
		{"reconnect", wire.AppendReconnect(nil, 1000)},
		{"sync", wire.AppendSync(nil, 43)},
		{"push-ack", wire.AppendPushAck(nil, "p1")},
		{"heartbeat", wire.AppendHeartbeat(nil, wire.Heartbeat{Ack: 42, PushAcks: []string{"p1", "p2"}})},
		{"heartbeat-idle", wire.AppendHeartbeat(nil, wire.Heartbeat{Ack: 42})},
	}
}

var exampleRE = regexp.MustCompile("(?s)<!-- example: ([a-z-]+) -->\\s*```hex\n(.*?)```")

// TestProtocolDoc_HexExamplesMatchEncoder keeps PROTOCOL.md honest: every
// example block must be exactly what push/wire encodes, and every frame type
// must have one.
func TestProtocolDoc_HexExamplesMatchEncoder(t *testing.T) {
	doc, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string][]byte{}
	for _, m := range exampleRE.FindAllSubmatch(doc, -1) {
		var clean strings.Builder
		for _, line := range strings.Split(string(m[2]), "\n") {
			line, _, _ = strings.Cut(line, "#") // comments after the bytes
			clean.WriteString(strings.Join(strings.Fields(line), ""))
		}
		b, err := hex.DecodeString(clean.String())
		if err != nil {
			t.Fatalf("example %s: %v", m[1], err)
		}
		found[string(m[1])] = b
	}
	types := map[wire.Type]bool{}
	for _, ex := range protocolExamples() {
		got, ok := found[ex.name]
		if !ok {
			t.Errorf("PROTOCOL.md has no example %q; want\n% x", ex.name, ex.b)
			continue
		}
		if !bytes.Equal(got, ex.b) {
			t.Errorf("example %s:\n doc  % x\n wire % x", ex.name, got, ex.b)
		}
		f, _, err := wire.Decode(got, wire.DefaultMaxPayload)
		if err != nil {
			t.Errorf("example %s does not decode: %v", ex.name, err)
		}
		types[f.Type] = true
		delete(found, ex.name)
	}
	for name := range found {
		t.Errorf("PROTOCOL.md example %q is not checked", name)
	}
	for ty := wire.TypeHello; ty <= wire.TypeHeartbeat; ty++ { // every frame type up to the newest
		if !types[ty] {
			t.Errorf("no example for frame type %s", ty)
		}
	}
}

// TestProtocolDoc_CodesTableIsOneTableOfEveryCode keeps the Codes table
// whole: one block of rows, in order, one per code push/wire knows, named
// as the wire names it. A blank line inside it would split it in two.
func TestProtocolDoc_CodesTableIsOneTableOfEveryCode(t *testing.T) {
	doc, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Codes\n")
	if !ok {
		t.Fatal("PROTOCOL.md has no Codes section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var tables [][]string // consecutive "| n |" rows
	inTable := false
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		if !inTable {
			tables = append(tables, nil)
			inTable = true
		}
		tables[len(tables)-1] = append(tables[len(tables)-1], line)
	}
	if len(tables) != 1 {
		t.Fatalf("the Codes section holds %d tables, want one", len(tables))
	}
	rows := tables[0][2:] // header and separator
	for code := wire.CodeNormal; code.String() != fmt.Sprintf("code_%d", uint16(code)); code++ {
		if int(code) >= len(rows) {
			t.Fatalf("no row for code %d (%s)", code, code)
		}
		cells := strings.Split(rows[code], "|")
		if len(cells) < 3 || strings.TrimSpace(cells[1]) != fmt.Sprint(uint16(code)) || strings.TrimSpace(cells[2]) != code.String() {
			t.Errorf("row %d is %q, want code %d named %s", code, rows[code], code, code)
		}
	}
}
