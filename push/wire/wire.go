// Package wire is Tether's binary frame protocol between clients and push
// nodes. push/PROTOCOL.md is the normative description; this package is its
// only implementation, shared by the server and the Go client.
//
// A frame is a 5-byte header (type u8, payload length u32 big-endian) followed
// by the payload. Integers are big-endian. Strings are length-prefixed UTF-8:
// str8 has a u8 length, str16 a u16 length.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// ProtocolVersion is the highest protocol version this package speaks.
// Version 2 adds the Heartbeat frame, which carries the client's acks
// (PROTOCOL.md, "Version 2: acks on heartbeats").
const ProtocolVersion = 2

// VersionHeartbeatAcks is the first protocol version with the Heartbeat frame.
const VersionHeartbeatAcks = 2

// HeaderSize is the size of every frame header.
const HeaderSize = 5

// DefaultMaxPayload is the payload limit a node enforces unless configured otherwise.
const DefaultMaxPayload = 64 << 10

// Type identifies a frame.
type Type uint8

// Frame types. The direction is given as c→s (client to server) or s→c.
const (
	TypeHello     Type = 0x01 // c→s: first frame, authenticates the connection
	TypeWelcome   Type = 0x02 // s→c: handshake accepted
	TypePing      Type = 0x03 // c→s: heartbeat
	TypePong      Type = 0x04 // s→c: heartbeat answer, echoes the ping payload
	TypeMessage   Type = 0x05 // s→c: a timeline entry with its version
	TypeAck       Type = 0x06 // c→s: cumulative ack, "I have everything up to version v"
	TypeError     Type = 0x07 // s→c: an error; the server closes after it
	TypeClose     Type = 0x08 // either way: orderly close with a reason
	TypeKick      Type = 0x09 // s→c: this session was ended on purpose; do not reconnect automatically
	TypeReconnect Type = 0x0A // s→c: the node is draining; reconnect (to any node) within the window
	TypeSignal    Type = 0x0B // both: an ephemeral signal (typing, ...) to or from a peer; never stored
	TypePush      Type = 0x0C // s→c: a transient push (broadcast, third-party), no version, not synced
	TypeSync      Type = 0x0D // s→c: the user's timeline has newer entries than were pushed; sync if behind
	TypePushAck   Type = 0x0E // c→s: the client handled the Push with this id (delivery status of the push API)
	TypeHeartbeat Type = 0x0F // c→s, version 2: a Ping that carries the cumulative ack and the handled push ids
)

// MaxHeartbeatPushAcks is the most push ids one Heartbeat frame carries.
const MaxHeartbeatPushAcks = 255

func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeWelcome:
		return "welcome"
	case TypePing:
		return "ping"
	case TypePong:
		return "pong"
	case TypeMessage:
		return "message"
	case TypeAck:
		return "ack"
	case TypeError:
		return "error"
	case TypeClose:
		return "close"
	case TypeKick:
		return "kick"
	case TypeReconnect:
		return "reconnect"
	case TypeSignal:
		return "signal"
	case TypePush:
		return "push"
	case TypeSync:
		return "sync"
	case TypePushAck:
		return "push_ack"
	case TypeHeartbeat:
		return "heartbeat"
	}
	return fmt.Sprintf("0x%02x", uint8(t))
}

// Code is the reason carried by Error and Close frames.
type Code uint16

// Codes. They are stable: clients branch on them.
const (
	CodeNormal             Code = 0  // orderly close
	CodeBadFrame           Code = 1  // malformed frame or payload
	CodeFrameTooLarge      Code = 2  // payload over the limit
	CodeUnsupportedVersion Code = 3  // no common protocol version
	CodeUnauthorized       Code = 4  // token invalid
	CodeTokenExpired       Code = 5  // token expired: refresh and reconnect
	CodeHandshakeTimeout   Code = 6  // no Hello in time
	CodeUnexpectedFrame    Code = 7  // frame not allowed in this state or direction
	CodeIdleTimeout        Code = 8  // nothing received within the idle timeout
	CodeShuttingDown       Code = 9  // node is stopping: reconnect elsewhere
	CodeInternal           Code = 10 // server fault: reconnect with backoff
	CodeSlowConsumer       Code = 11 // outbound queue overflowed: reconnect and sync
	CodeReplaced           Code = 12 // kick: a newer session of this user on the same platform took over
	CodeRevoked            Code = 13 // kick: the login session was revoked (logout, password change, device removed)
	CodeRateLimited        Code = 14 // error: too many frames of a kind (signals); slow down
	CodeTooManyConnections Code = 15 // error: per-IP or per-user connection limit reached; back off
	CodeKicked             Code = 16 // kick: an operator ended the session (the ops page)
)

func (c Code) String() string {
	switch c {
	case CodeNormal:
		return "normal"
	case CodeBadFrame:
		return "bad_frame"
	case CodeFrameTooLarge:
		return "frame_too_large"
	case CodeUnsupportedVersion:
		return "unsupported_version"
	case CodeUnauthorized:
		return "unauthorized"
	case CodeTokenExpired:
		return "token_expired"
	case CodeHandshakeTimeout:
		return "handshake_timeout"
	case CodeUnexpectedFrame:
		return "unexpected_frame"
	case CodeIdleTimeout:
		return "idle_timeout"
	case CodeShuttingDown:
		return "shutting_down"
	case CodeInternal:
		return "internal"
	case CodeSlowConsumer:
		return "slow_consumer"
	case CodeReplaced:
		return "replaced"
	case CodeRevoked:
		return "revoked"
	case CodeRateLimited:
		return "rate_limited"
	case CodeTooManyConnections:
		return "too_many_connections"
	case CodeKicked:
		return "kicked"
	}
	return fmt.Sprintf("code_%d", uint16(c))
}

// Errors returned by the decoder. Each maps to a Code via CodeOf.
var (
	ErrShort       = errors.New("wire: need more bytes")
	ErrTooLarge    = errors.New("wire: frame too large")
	ErrUnknownType = errors.New("wire: unknown frame type")
	ErrMalformed   = errors.New("wire: malformed payload")
)

// CodeOf maps a decoder error to the code the server sends back.
func CodeOf(err error) Code {
	if errors.Is(err, ErrTooLarge) {
		return CodeFrameTooLarge
	}
	return CodeBadFrame
}

// Hello is the client's handshake.
type Hello struct {
	Version     uint8  // highest protocol version the client speaks
	LastVersion uint64 // highest timeline version the client already has
	Token       string // access token
	Platform    string // ios, android, web, desktop, ... (the token is authoritative)
	DeviceID    string
	AppVersion  string
}

// Welcome is the server's handshake answer.
type Welcome struct {
	Version        uint8  // protocol version chosen for this connection
	Flags          uint8  // FlagVersionUnknown
	CurrentVersion uint64 // the user's newest timeline version, as the node knows it
	HeartbeatMS    uint32 // send a ping at least this often
	MaxPayload     uint32 // largest payload the server accepts
	SessionID      string // the node's id for this connection, for support and logs
}

// FlagVersionUnknown in Welcome.Flags says the node could not read the
// user's current version (its Redis is unreachable): the client must sync.
const FlagVersionUnknown = 0x01

// Message is one timeline entry pushed to the client.
type Message struct {
	Version uint64
	Body    []byte // the entry's JSON (see PROTOCOL.md); aliases the input when decoded
}

// MaxSignalData is the largest Signal data a client may send.
const MaxSignalData = 256

// Signal is an ephemeral signal. Client to server, Peer is the recipient;
// server to client, Peer is the sender.
type Signal struct {
	Peer int64  // user id
	Kind string // e.g. "typing"; at most 32 bytes
	Data []byte // at most MaxSignalData, opaque unless JSON (CanonicalSignalData); aliases the input when decoded
}

// Push is a transient push: delivered to live sessions only, never stored.
type Push struct {
	ID   string // the push's id, for delivery status and dedupe; at most 64 bytes
	Body []byte // JSON; aliases the input when decoded
}

// Heartbeat is a version 2 client's heartbeat: it is answered with a Pong
// like a Ping, and carries what the client would otherwise send as Ack and
// PushAck frames.
type Heartbeat struct {
	Ack      uint64   // cumulative: the client has every entry up to this version (0: none yet)
	PushAcks []string // push ids handled since the last heartbeat; at most MaxHeartbeatPushAcks, each at most 64 bytes
}

// Reason is the payload of Error and Close frames.
type Reason struct {
	Code Code
	Text string
}

// Frame is one decoded frame. Exactly one of the typed fields is meaningful,
// selected by Type.
type Frame struct {
	Type    Type
	Hello   Hello
	Welcome Welcome
	Message Message
	Ack     uint64 // TypeAck
	Ping    []byte // TypePing and TypePong: opaque, at most 8 bytes
	Reason  Reason // TypeError, TypeClose and TypeKick
	Window  uint32 // TypeReconnect: reconnect within this many milliseconds
	Current uint64 // TypeSync: the user's newest version; 0 if unknown
	Signal  Signal // TypeSignal
	Push    Push   // TypePush
	PushAck string // TypePushAck: the push id, at most 64 bytes

	Heartbeat Heartbeat // TypeHeartbeat
}

// ParseHeader reads a header from b. It returns ErrShort if b holds fewer
// than HeaderSize bytes and ErrTooLarge if the payload exceeds max.
func ParseHeader(b []byte, max int) (Type, int, error) {
	if len(b) < HeaderSize {
		return 0, 0, ErrShort
	}
	n := binary.BigEndian.Uint32(b[1:5])
	if uint64(n) > uint64(max) {
		return Type(b[0]), 0, ErrTooLarge
	}
	return Type(b[0]), int(n), nil
}

// Decode decodes one whole frame from the start of b and returns it with the
// number of bytes it used. ErrShort means b holds a prefix of a valid frame.
// Decoded byte slices alias b.
func Decode(b []byte, max int) (Frame, int, error) {
	t, n, err := ParseHeader(b, max)
	if err != nil {
		return Frame{}, 0, err
	}
	if len(b) < HeaderSize+n {
		return Frame{}, 0, ErrShort
	}
	f, err := DecodePayload(t, b[HeaderSize:HeaderSize+n])
	if err != nil {
		return f, 0, err
	}
	return f, HeaderSize + n, nil
}

// DecodePayload decodes the payload p of a frame of type t.
func DecodePayload(t Type, p []byte) (Frame, error) {
	f := Frame{Type: t}
	r := reader{b: p}
	switch t {
	case TypeHello:
		f.Hello.Version = r.u8()
		f.Hello.LastVersion = r.u64()
		f.Hello.Token = r.str16()
		f.Hello.Platform = r.str8()
		f.Hello.DeviceID = r.str8()
		f.Hello.AppVersion = r.str8()
	case TypeWelcome:
		f.Welcome.Version = r.u8()
		f.Welcome.Flags = r.u8()
		f.Welcome.CurrentVersion = r.u64()
		f.Welcome.HeartbeatMS = r.u32()
		f.Welcome.MaxPayload = r.u32()
		f.Welcome.SessionID = r.str8()
	case TypePing, TypePong:
		if len(p) > 8 {
			return f, ErrMalformed
		}
		f.Ping = p
		r.off = len(p)
	case TypeMessage:
		f.Message.Version = r.u64()
		f.Message.Body = r.rest()
	case TypeAck:
		f.Ack = r.u64()
	case TypeReconnect:
		f.Window = r.u32()
	case TypeSync:
		f.Current = r.u64()
	case TypeSignal:
		f.Signal.Peer = int64(r.u64())
		f.Signal.Kind = r.str8()
		f.Signal.Data = r.rest()
		if len(f.Signal.Kind) > 32 || len(f.Signal.Data) > MaxSignalData {
			return f, ErrMalformed
		}
	case TypePush:
		f.Push.ID = r.str8()
		f.Push.Body = r.rest()
		if len(f.Push.ID) > 64 {
			return f, ErrMalformed
		}
	case TypePushAck:
		f.PushAck = r.str8()
		if len(f.PushAck) > 64 {
			return f, ErrMalformed
		}
	case TypeHeartbeat:
		f.Heartbeat.Ack = r.u64()
		if n := int(r.u8()); n > 0 && !r.bad {
			f.Heartbeat.PushAcks = make([]string, 0, n)
			for range n {
				id := r.str8()
				if len(id) > 64 || r.bad {
					return f, ErrMalformed
				}
				f.Heartbeat.PushAcks = append(f.Heartbeat.PushAcks, id)
			}
		}
	case TypeError, TypeClose, TypeKick:
		f.Reason.Code = Code(r.u16())
		f.Reason.Text = string(r.rest())
		if !utf8.ValidString(f.Reason.Text) {
			return f, ErrMalformed
		}
	default:
		return f, ErrUnknownType
	}
	if r.bad || r.off != len(p) {
		return f, ErrMalformed
	}
	return f, nil
}

// reader consumes a payload; any overrun sets bad instead of panicking.
type reader struct {
	b   []byte
	off int
	bad bool
}

func (r *reader) take(n int) []byte {
	if r.bad || n < 0 || len(r.b)-r.off < n {
		r.bad = true
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) u8() uint8 {
	if s := r.take(1); s != nil {
		return s[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if s := r.take(2); s != nil {
		return binary.BigEndian.Uint16(s)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if s := r.take(4); s != nil {
		return binary.BigEndian.Uint32(s)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if s := r.take(8); s != nil {
		return binary.BigEndian.Uint64(s)
	}
	return 0
}

func (r *reader) str8() string {
	s := string(r.take(int(r.u8())))
	if !utf8.ValidString(s) {
		r.bad = true
	}
	return s
}

func (r *reader) str16() string {
	s := string(r.take(int(r.u16())))
	if !utf8.ValidString(s) {
		r.bad = true
	}
	return s
}

func (r *reader) rest() []byte {
	if r.bad {
		return nil
	}
	s := r.b[r.off:]
	r.off = len(r.b)
	return s
}
