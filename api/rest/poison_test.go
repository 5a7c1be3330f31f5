package rest

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/tetherim/tether"
)

// poisons are JSON objects Go's encoding/json accepts but a strict decoder
// (any client that follows "UTF-8 JSON") refuses, or that nest absurdly.
var poisons = []struct{ name, json string }{
	{"raw FF FE bytes in a string", "{\"t\":\"a\xff\xfeb\"}"},
	{"escaped lone surrogate", `{"t":"\ud800"}`},
	{"escaped lone low surrogate in a name", `{"\udc00":1}`},
	{"nested 2,500 deep", strings.Repeat(`{"a":`, 2500) + "1" + strings.Repeat("}", 2500)},
	{"nested 33 deep", strings.Repeat(`{"a":`, tether.MaxJSONDepth) + "{}" + strings.Repeat("}", tether.MaxJSONDepth)},
	{"duplicate member names", `{"t":"a","t":"b"}`},
	{"number beyond float64", `{"n":1e999}`},
}

// strictDecode decodes b as a strict client would: encoding/json/v2's
// defaults refuse invalid UTF-8, lone surrogates and duplicate names.
func strictDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	if !utf8.Valid(b) {
		t.Fatalf("body is not UTF-8: %q", b)
	}
	if err := jsonv2.Unmarshal(b, v); err != nil {
		t.Fatalf("a strict decoder cannot read the body: %v\n%q", err, b)
	}
}

func TestSend_PoisonContentIsRefusedAndSyncStaysStrictJSON(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a, b := e.signup("alice"), e.signup("bob")
		post := func(cid, typ, content string) resp {
			return e.do(req{Method: "POST", Path: "/v1/messages", Token: a.Tokens.AccessToken,
				Body: fmt.Sprintf(`{"recipient_id":%d,"client_msg_id":%q,"type":%q,"content":%s}`, b.ID, cid, typ, content)})
		}
		for i, p := range poisons {
			for _, typ := range []string{"custom", "text"} {
				content := p.json
				if typ == "text" {
					// The same poison where a text message's text goes.
					content = strings.Replace(p.json, `"t":`, `"text":`, 1)
				}
				r := post(fmt.Sprintf("p%d-%s", i, typ), typ, content)
				pr := r.wantProblem(t, 400, tether.EINVALID)
				if !strings.Contains(pr.Detail, "content") {
					t.Errorf("%s (%s): detail %q does not name content", p.name, typ, pr.Detail)
				}
			}
		}
		// Escaping is the client's choice; what is stored and forwarded is
		// one canonical form.
		r := post("ok", "text", `{ "text" : "h\u00e9llo \ud83d\ude00 \/ <b>" }`)
		var m tether.Message
		strictDecode(t, r.Body, &m)
		if r.Status != 201 || string(m.Content) != `{"text":"héllo 😀 / \u003cb\u003e"}` && string(m.Content) != `{"text":"héllo 😀 / <b>"}` {
			t.Fatalf("status %d, content %s", r.Status, m.Content)
		}

		sync := e.do(req{Method: "GET", Path: "/v1/sync?since=0", Token: b.Tokens.AccessToken})
		var page tether.SyncPage
		strictDecode(t, sync.Body, &page)
		if len(page.Entries) != 1 || page.Entries[0].Message == nil || page.Entries[0].Message.ClientMsgID != "ok" {
			t.Fatalf("bob's timeline holds more than the one valid message: %s", sync.Body)
		}
	})
}

// The content limit is on the canonical form: the same text escaped
// (\u00e9, 6 bytes) or raw (é, 2 bytes) fits or not alike.
func TestSend_ContentLimitIsOnTheCanonicalForm(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a, b := e.signup("alice"), e.signup("bob")
		post := func(cid, content string) resp {
			return e.do(req{Method: "POST", Path: "/v1/messages", Token: a.Tokens.AccessToken,
				Body: fmt.Sprintf(`{"recipient_id":%d,"client_msg_id":%q,"type":"custom","content":%s}`, b.ID, cid, content)})
		}
		fits := (tether.MaxContentBytes - len(`{"t":""}`)) / 2                            // é is 2 bytes of UTF-8
		post("escaped", `{"t":"`+strings.Repeat(`\u00e9`, fits)+`"}`).decode(t, 201, nil) // 6x the bytes on the wire
		post("raw", `{"t":"`+strings.Repeat("é", fits)+`"}`).decode(t, 201, nil)
		post("spaced", `{ "t" :  "`+strings.Repeat("é", fits)+`"  }`).decode(t, 201, nil)
		over := post("over", `{"t":"`+strings.Repeat(`\u00e9`, fits+1)+`"}`).wantProblem(t, 413, tether.ETOOLARGE)
		if !strings.Contains(over.Detail, "content") {
			t.Fatalf("detail %q", over.Detail)
		}
	})
}

func TestProfile_PoisonAttributesAreRefused(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a, b := e.signup("alice"), e.signup("bob")
		for _, p := range poisons {
			r := e.do(req{Method: "PATCH", Path: "/v1/users/me/profile", Token: a.Tokens.AccessToken, Body: `{"attributes":` + p.json + `}`})
			if r.Status == 413 {
				continue // the 2,500-deep object is over the 4 KiB attribute limit either way
			}
			if pr := r.wantProblem(t, 400, tether.EINVALID); !strings.Contains(pr.Detail, "attributes") {
				t.Errorf("%s: detail %q does not name attributes", p.name, pr.Detail)
			}
		}
		e.do(req{Method: "PATCH", Path: "/v1/users/me/profile", Token: a.Tokens.AccessToken, Body: `{"attributes":{"city":"M\u00fcnchen"}}`}).decode(t, 200, nil)
		r := e.do(req{Method: "GET", Path: userPath(a.ID) + "/profile", Token: b.Tokens.AccessToken})
		var prof tether.Profile
		strictDecode(t, r.Body, &prof)
		if string(prof.Attributes) != `{"city":"München"}` {
			t.Fatalf("attributes %s", prof.Attributes)
		}
	})
}

func TestPushAPI_PoisonPayloadsAreRefused(t *testing.T) {
	eachDriverPush(t, func(t *testing.T, e *pushEnv) {
		k := e.newKey("crm", 0, "push", "broadcast")
		for _, p := range poisons {
			for _, path := range []string{"/v1/push", "/v1/push/broadcast"} {
				body := `{"user_ids":[1],"payload":` + p.json + `}`
				if path == "/v1/push/broadcast" {
					body = `{"payload":` + p.json + `}`
				}
				r := e.doKey(k.Secret, req{Method: "POST", Path: path, Body: body})
				if r.Status == 413 {
					continue // the 2,500-deep object is over the 4 KiB payload limit either way
				}
				if r.Status != 400 {
					t.Fatalf("%s %s: status %d: %s", path, p.name, r.Status, r.Body)
				}
				if pr := r.wantProblem(t, 400, tether.EINVALID); !strings.Contains(pr.Detail, "payload") {
					t.Errorf("%s %s: detail %q does not name payload", path, p.name, pr.Detail)
				}
			}
			var out struct {
				Results []struct {
					Status int    `json:"status"`
					Code   string `json:"code"`
					Detail string `json:"detail"`
				} `json:"results"`
			}
			batch := e.doKey(k.Secret, req{Method: "POST", Path: "/v1/push/batch",
				Body: `{"pushes":[{"user_ids":[1],"payload":{"ok":true}},{"user_ids":[1],"payload":` + p.json + `}]}`})
			if !utf8.ValidString(p.json) {
				// A body that is not UTF-8 is not JSON: refused whole, naming the member.
				if pr := batch.wantProblem(t, 400, tether.EINVALID); !strings.Contains(pr.Detail, "pushes") {
					t.Errorf("%s: batch detail %q", p.name, pr.Detail)
				}
				continue
			}
			batch.decode(t, 202, &out)
			if len(out.Results) != 2 || out.Results[0].Status != 202 {
				t.Fatalf("%s: batch %+v", p.name, out)
			}
			if bad := out.Results[1]; bad.Status != 413 && (bad.Status != 400 || bad.Code != tether.EINVALID || !strings.Contains(bad.Detail, "payload")) {
				t.Errorf("%s: batch item %+v", p.name, bad)
			}
		}
	})
}
