package tether_test

import (
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// Chat send, sync and push delivery can never be turned off by a
// degradation switch: the files that implement them do not import the live
// switches nor call a push session's switchOn. (The REST handlers of send
// and sync are held to the same rule by api/rest's
// TestDegradation_SendAndSyncNeverConsultASwitch; the relay consults only
// the group fan-out limit, and never for 1:1 entries, see api/relay's
// TestRelay_FanoutLimitNeverKeepsA1to1EntryFromPush.)
func TestDegradation_CoreChatPathsDoNotImportSwitches(t *testing.T) {
	core := []string{
		"api/store/message.go",  // send
		"api/store/read.go",     // sync and history
		"api/store/timeline.go", // versions
		"api/store/outbox.go",   // the send's outbox row
		"push/consumer.go",      // jobs from the node's stream
		"push/conn.go",          // sessions
		"push/conn_write.go",    // frames to the client
		"push/hub.go",           // session table
		"push/acks.go",          // acknowledgements
	}
	fset := token.NewFileSet()
	for _, path := range core {
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, imp := range f.Imports {
			if strings.Contains(imp.Path.Value, "shared/switches") {
				t.Errorf("%s imports the live switches: chat send, sync and push delivery must not consult one", path)
			}
		}
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(src), "switchOn(") {
			t.Errorf("%s calls switchOn: chat send, sync and push delivery must not consult a switch", path)
		}
	}
}
