package wire

import "github.com/tetherim/tether"

// Signal data is opaque to the server, except that data starting with '{'
// or '[' is JSON: it reaches other users, so it must pass the domain's rule
// for client JSON (tether.CanonicalJSON: UTF-8, no lone surrogates, no
// duplicate names, nested at most tether.MaxJSONDepth deep), and it is
// forwarded in canonical form, never longer than what was sent.

// CanonicalSignalData returns data as it is forwarded: JSON data in
// canonical form, anything else unchanged. It fails for JSON data a strict
// decoder would refuse.
func CanonicalSignalData(data []byte) ([]byte, error) {
	if len(data) == 0 || (data[0] != '{' && data[0] != '[') {
		return data, nil
	}
	return tether.CanonicalJSON(data)
}
