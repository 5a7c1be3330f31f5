package wire

import "encoding/binary"

// The Append functions append one whole frame to dst and return the extended
// slice. They never allocate when dst has room, so hot paths can reuse buffers.
// Strings longer than their length prefix allows are truncated; callers
// validate lengths before encoding.

func appendHeader(dst []byte, t Type, n int) []byte {
	return binary.BigEndian.AppendUint32(append(dst, byte(t)), uint32(n))
}

func appendStr8(dst []byte, s string) []byte {
	if len(s) > 0xff {
		s = s[:0xff]
	}
	return append(append(dst, byte(len(s))), s...)
}

func appendStr16(dst []byte, s string) []byte {
	if len(s) > 0xffff {
		s = s[:0xffff]
	}
	return append(binary.BigEndian.AppendUint16(dst, uint16(len(s))), s...)
}

func min8(s string) int {
	if len(s) > 0xff {
		return 0xff
	}
	return len(s)
}

// AppendHello appends a Hello frame.
func AppendHello(dst []byte, h Hello) []byte {
	tok := len(h.Token)
	if tok > 0xffff {
		tok = 0xffff
	}
	n := 1 + 8 + 2 + tok + 1 + min8(h.Platform) + 1 + min8(h.DeviceID) + 1 + min8(h.AppVersion)
	dst = appendHeader(dst, TypeHello, n)
	dst = append(dst, h.Version)
	dst = binary.BigEndian.AppendUint64(dst, h.LastVersion)
	dst = appendStr16(dst, h.Token)
	dst = appendStr8(dst, h.Platform)
	dst = appendStr8(dst, h.DeviceID)
	return appendStr8(dst, h.AppVersion)
}

// AppendWelcome appends a Welcome frame.
func AppendWelcome(dst []byte, w Welcome) []byte {
	dst = appendHeader(dst, TypeWelcome, 1+1+8+4+4+1+min8(w.SessionID))
	dst = append(dst, w.Version, w.Flags)
	dst = binary.BigEndian.AppendUint64(dst, w.CurrentVersion)
	dst = binary.BigEndian.AppendUint32(dst, w.HeartbeatMS)
	dst = binary.BigEndian.AppendUint32(dst, w.MaxPayload)
	return appendStr8(dst, w.SessionID)
}

// AppendPing appends a Ping frame; data (at most 8 bytes) is echoed in the Pong.
func AppendPing(dst []byte, data []byte) []byte {
	return append(appendHeader(dst, TypePing, len(data)), data...)
}

// AppendPong appends a Pong frame echoing data.
func AppendPong(dst []byte, data []byte) []byte {
	return append(appendHeader(dst, TypePong, len(data)), data...)
}

// AppendMessage appends a Message frame carrying body at version v.
func AppendMessage(dst []byte, v uint64, body []byte) []byte {
	dst = appendHeader(dst, TypeMessage, 8+len(body))
	dst = binary.BigEndian.AppendUint64(dst, v)
	return append(dst, body...)
}

// MessageSize is the encoded size of a Message frame with a body of n bytes.
func MessageSize(n int) int { return HeaderSize + 8 + n }

// AppendAck appends a cumulative Ack for everything up to version v.
func AppendAck(dst []byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(appendHeader(dst, TypeAck, 8), v)
}

// AppendError appends an Error frame.
func AppendError(dst []byte, c Code, text string) []byte {
	return appendReason(dst, TypeError, c, text)
}

// AppendClose appends a Close frame.
func AppendClose(dst []byte, c Code, text string) []byte {
	return appendReason(dst, TypeClose, c, text)
}

func appendReason(dst []byte, t Type, c Code, text string) []byte {
	if len(text) > 1024 {
		text = text[:1024]
	}
	dst = appendHeader(dst, t, 2+len(text))
	dst = binary.BigEndian.AppendUint16(dst, uint16(c))
	return append(dst, text...)
}

// AppendKick appends a Kick frame.
func AppendKick(dst []byte, c Code, text string) []byte {
	return appendReason(dst, TypeKick, c, text)
}

// AppendReconnect appends a Reconnect frame asking the client to reconnect
// within windowMS milliseconds.
func AppendReconnect(dst []byte, windowMS uint32) []byte {
	return binary.BigEndian.AppendUint32(appendHeader(dst, TypeReconnect, 4), windowMS)
}

// AppendSync appends a Sync frame telling the client that the user's newest
// version is current (0: unknown), so that a client behind it syncs.
func AppendSync(dst []byte, current uint64) []byte {
	return binary.BigEndian.AppendUint64(appendHeader(dst, TypeSync, 8), current)
}

// AppendSignal appends a Signal frame. Kind is cut to 32 bytes; callers
// check Data against MaxSignalData.
func AppendSignal(dst []byte, s Signal) []byte {
	kind := s.Kind
	if len(kind) > 32 {
		kind = kind[:32]
	}
	dst = appendHeader(dst, TypeSignal, 8+1+len(kind)+len(s.Data))
	dst = binary.BigEndian.AppendUint64(dst, uint64(s.Peer))
	dst = appendStr8(dst, kind)
	return append(dst, s.Data...)
}

// AppendPush appends a Push frame. ID is cut to 64 bytes.
func AppendPush(dst []byte, p Push) []byte {
	id := p.ID
	if len(id) > 64 {
		id = id[:64]
	}
	dst = appendHeader(dst, TypePush, 1+len(id)+len(p.Body))
	dst = appendStr8(dst, id)
	return append(dst, p.Body...)
}

// AppendPushAck appends a PushAck frame. The id is cut to 64 bytes.
func AppendPushAck(dst []byte, pushID string) []byte {
	if len(pushID) > 64 {
		pushID = pushID[:64]
	}
	dst = appendHeader(dst, TypePushAck, 1+len(pushID))
	return appendStr8(dst, pushID)
}

// AppendHeartbeat appends a Heartbeat frame (protocol version 2). Push ids
// past MaxHeartbeatPushAcks are left out (send them in the next one) and
// each is cut to 64 bytes.
func AppendHeartbeat(dst []byte, h Heartbeat) []byte {
	ids := h.PushAcks
	if len(ids) > MaxHeartbeatPushAcks {
		ids = ids[:MaxHeartbeatPushAcks]
	}
	n := 8 + 1
	for _, id := range ids {
		n += 1 + min(len(id), 64)
	}
	dst = appendHeader(dst, TypeHeartbeat, n)
	dst = binary.BigEndian.AppendUint64(dst, h.Ack)
	dst = append(dst, byte(len(ids)))
	for _, id := range ids {
		dst = appendStr8(dst, id[:min(len(id), 64)])
	}
	return dst
}
