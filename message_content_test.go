package tether

import (
	"fmt"
	"strings"
	"testing"
)

func TestValidateContent_AcceptsEachTypesShape(t *testing.T) {
	for _, tc := range []struct{ typ, content string }{
		{MessageText, `{"text":"hi"}`},
		{MessageText, `{"text":"` + strings.Repeat("é", MaxTextLen) + `"}`},
		{MessageText, `{"text":"hi @bob","mentions":[2,3]}`},
		{MessageText, `{"text":"line\nbreak","mentions":[]}`},
		{MessageImage, `{"url":"https://cdn.example/a.png"}`},
		{MessageImage, `{"url":"http://cdn.example/a.png","width":640,"height":480,"size":12345,"mime":"image/png","name":"a.png","thumbnail_url":"https://cdn.example/a_t.png"}`},
		{MessageFile, `{"url":"https://cdn.example/r.pdf","name":"report.pdf"}`},
		{MessageFile, `{"url":"https://cdn.example/r.pdf","name":"report.pdf","size":0,"mime":"application/pdf"}`},
		{MessageCustom, `{}`},
		{MessageCustom, `{"anything":{"goes":[1,2,3]}}`},
	} {
		if err := validateContent(tc.typ, []byte(tc.content)); err != nil {
			t.Errorf("%s %s: %v", tc.typ, tc.content, err)
		}
	}
}

func TestValidateContent_RefusesEachViolationWithAClearMessage(t *testing.T) {
	long := "https://cdn.example/" + strings.Repeat("a", MaxMediaURLLen)
	for _, tc := range []struct{ typ, content, want string }{
		{MessageText, `"hi"`, "content of a text message must be a JSON object"},
		{MessageText, `null`, "content of a text message must be a JSON object"},
		{MessageCustom, `[1]`, "content of a custom message must be a JSON object"},
		{MessageText, `{}`, "content.text is required in a text message"},
		{MessageText, `{"text":""}`, "content.text must be 1 to 4000 characters, not 0"},
		{MessageText, `{"text":"` + strings.Repeat("x", MaxTextLen+1) + `"}`, "content.text must be 1 to 4000 characters, not 4001"},
		{MessageText, `{"text":5}`, "content.text must be a string"},
		{MessageText, `{"text":null}`, "content.text must be a string"},
		{MessageText, `{"text":"hi","bold":true}`, `content: unknown field "bold" in a text message (allowed: text, mentions)`},
		{MessageText, `{"text":"hi","mentions":"bob"}`, "content.mentions must be an array of user ids"},
		{MessageText, `{"text":"hi","mentions":[1.5]}`, "content.mentions must be an array of user ids"},
		{MessageText, `{"text":"hi","mentions":[0]}`, "content.mentions must hold user ids (positive integers), not 0"},
		{MessageText, fmt.Sprintf(`{"text":"hi","mentions":[%s1]}`, strings.Repeat("1,", MaxMentions)), "content.mentions must name at most 50 users, not 51"},
		{MessageImage, `{}`, "content.url is required in an image message"},
		{MessageImage, `{"url":"ftp://x/a.png"}`, "content.url must be an absolute http or https URL"},
		{MessageImage, `{"url":"/a.png"}`, "content.url must be an absolute http or https URL"},
		{MessageImage, `{"url":"` + long + `"}`, fmt.Sprintf("content.url must be at most 2048 bytes, not %d", len(long))},
		{MessageImage, `{"url":"https://x/a.png","width":0}`, "content.width must be a positive integer up to 2147483647, not 0"},
		{MessageImage, `{"url":"https://x/a.png","height":"big"}`, "content.height must be a positive integer"},
		{MessageImage, `{"url":"https://x/a.png","size":-1}`, "content.size must be a number of bytes >= 0, not -1"},
		{MessageImage, `{"url":"https://x/a.png","thumbnail_url":"javascript:alert(1)"}`, "content.thumbnail_url must be an absolute http or https URL"},
		{MessageImage, `{"url":"https://x/a.png","mime":""}`, "content.mime must be 1 to 255 printable characters"},
		{MessageImage, `{"url":"https://x/a.png","caption":"x"}`, `content: unknown field "caption" in an image message (allowed: url, width, height, size, mime, name, thumbnail_url)`},
		{MessageFile, `{"url":"https://x/r.pdf"}`, "content.name is required in a file message"},
		{MessageFile, `{"name":"r.pdf"}`, "content.url is required in a file message"},
		{MessageFile, `{"url":"https://x/r.pdf","name":"` + strings.Repeat("n", 256) + `"}`, "content.name must be 1 to 255 printable characters"},
		{MessageFile, `{"url":"https://x/r.pdf","name":"r.pdf","width":3}`, `content: unknown field "width" in a file message (allowed: url, name, size, mime)`},
	} {
		err := validateContent(tc.typ, []byte(tc.content))
		if ErrorCode(err) != EINVALID || ErrorMessage(err) != tc.want {
			t.Errorf("%s %.60s: got %v, want invalid %q", tc.typ, tc.content, err, tc.want)
		}
	}
}

// Send runs the check: a bad content is refused before anything is stored.
func TestNewMessageValidate_ChecksContentByType(t *testing.T) {
	_, err := NewMessage{RecipientID: 2, ClientMsgID: "c", Type: MessageText, Content: []byte(`{"txt":"hi"}`)}.Validate(Caller{UserID: 1})
	if ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), `unknown field "txt"`) {
		t.Fatalf("got %v", err)
	}
	out, err := NewMessage{RecipientID: 2, ClientMsgID: "c", Type: MessageText, Content: []byte(`{ "text" : "hi" }`)}.Validate(Caller{UserID: 1})
	if err != nil || string(out) != `{"text":"hi"}` {
		t.Fatalf("got %s %v", out, err)
	}
}
