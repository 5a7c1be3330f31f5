package tether

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
)

func TestCanonicalJSON_RefusesWhatStrictDecodersRefuse(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 2500) + "1" + strings.Repeat("}", 2500)
	for _, tc := range []struct {
		name, in, reason string
	}{
		{"raw FF FE in a string", "{\"t\":\"a\xff\xfeb\"}", reasonUTF8},
		{"truncated UTF-8", "{\"t\":\"\xe2\x82\"}", reasonUTF8},
		{"UTF-8 encoded surrogate", "{\"t\":\"\xed\xa0\x80\"}", reasonUTF8},
		{"raw FF outside a string", "{\"t\":1}\xff", reasonTrailing},
		{"escaped lone high surrogate", `{"t":"\ud800"}`, reasonSurrogate},
		{"escaped lone low surrogate", `{"t":"\udc00x"}`, reasonSurrogate},
		{"high surrogate then a letter", `{"t":"\ud800\u0041"}`, reasonSurrogate},
		{"lone surrogate in a name", `{"\ud83d":1}`, reasonSurrogate},
		{"2,500 levels deep", deep, reasonDepth},
		{"33 arrays deep", strings.Repeat("[", 33) + strings.Repeat("]", 33), reasonDepth},
		{"duplicate names", `{"a":1,"a":2}`, reasonDuplicate},
		{"duplicate names, escaped differently", `{"a":1,"\u0061":2}`, reasonDuplicate},
		{"duplicate names among many", `{"a0":0,"a1":1,"a2":2,"a3":3,"a4":4,"a5":5,"a6":6,"a7":7,"a8":8,"a9":9,"b0":0,"b1":1,"b2":2,"b3":3,"b4":4,"b5":5,"b6":6,"b7":7,"a3":0}`, reasonDuplicate},
		{"number beyond float64", `{"n":1e400}`, reasonNumber},
		{"raw control character", "{\"t\":\"a\nb\"}", reasonControlChr},
		{"bad escape", `{"t":"\x"}`, reasonSyntax},
		{"short \\u", `{"t":"\u12"}`, reasonSyntax},
		{"leading zero", `{"n":01}`, reasonSyntax},
		{"trailing comma", `{"a":1,}`, reasonSyntax},
		{"two values", `{} {}`, reasonTrailing},
		{"empty", "  ", reasonEmpty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := canonical([]byte(tc.in))
			if got := reason(err); got != tc.reason {
				t.Fatalf("canonical(%q) = %v, want reason %q", tc.in, err, tc.reason)
			}
		})
	}
}

func TestCanonicalJSON_OneEncodingWhateverTheClientsEscaping(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{` { "t" : "h\u00e9llo" , "n" : [ 1 , -2.5e3 , true , null ] } `, `{"t":"héllo","n":[1,-2.5e3,true,null]}`},
		{`{"t":"\ud83d\ude00"}`, `{"t":"😀"}`},
		{`{"t":"\/\u0041\u0008\u000C\u001f\u007f"}`, "{\"t\":\"/A\\b\\f\\u001f\x7f\"}"},
		{`{"t":"<&>\u2028"}`, "{\"t\":\"<&>\u2028\"}"},
		{`{"t":"q\"b\\"}`, `{"t":"q\"b\\"}`},
		{`{"":{}}`, `{"":{}}`},
		{`"just a string"`, `"just a string"`},
	} {
		got, err := canonical([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("canonical(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	// The same text escaped two ways has one canonical form.
	a, _ := canonical([]byte(`{"t":"日本"}`))
	b, _ := canonical([]byte(`{"t":"\u65e5\u672c"}`))
	if !bytes.Equal(a, b) {
		t.Fatalf("%s != %s", a, b)
	}
}

func TestCanonicalJSON_AllowsExactlyMaxJSONDepth(t *testing.T) {
	ok := strings.Repeat("[", MaxJSONDepth) + strings.Repeat("]", MaxJSONDepth)
	if _, err := canonical([]byte(ok)); err != nil {
		t.Fatalf("%d levels: %v", MaxJSONDepth, err)
	}
}

func TestCanonicalObject_NamesTheFieldAndLimitsTheCanonicalForm(t *testing.T) {
	for _, in := range []string{`[]`, `"s"`, `1`, `null`} {
		_, err := CanonicalObject("payload", []byte(in), 100)
		if ErrorCode(err) != EINVALID || ErrorMessage(err) != "payload must be a JSON object" {
			t.Errorf("CanonicalObject(%s) = %v", in, err)
		}
	}
	_, err := CanonicalObject("content", []byte(`{"t":"\ud800"}`), 100)
	if ErrorCode(err) != EINVALID || !strings.HasPrefix(ErrorMessage(err), "content must be UTF-8 JSON") || !strings.HasSuffix(ErrorMessage(err), "lone surrogate at byte 6") {
		t.Errorf("lone surrogate: %v", err)
	}
	// 10 bytes canonical, 20 as sent.
	if out, err := CanonicalObject("attributes", []byte(` { "a" : "\u00e9" } `), 10); err != nil || string(out) != `{"a":"é"}` {
		t.Errorf("canonical form within the limit: %s, %v", out, err)
	}
	if _, err := CanonicalObject("attributes", []byte(`{"a":"éé"}`), 10); ErrorCode(err) != ETOOLARGE {
		t.Errorf("over the limit: %v", err)
	}
}

// FuzzCanonicalJSON: whatever canonical accepts is valid UTF-8 JSON that means
// the same as the input, is its own canonical form, and is never longer
// than the input compacted.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":[1,2,{"b":null}]}`, `"\ud83d\ude00"`, `"\ud800"`, "\"\xff\"", `{"a":1,"a":2}`,
		`[1e400]`, `-0.0e-0`, `"\u0000\/"`, strings.Repeat("[", 40), ` [ "x" , { } ] `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := canonical(in)
		if err != nil {
			if _, ok := err.(*jsonError); !ok {
				t.Fatalf("error of another type: %T %v", err, err)
			}
			return
		}
		if !utf8.Valid(out) || !json.Valid(out) {
			t.Fatalf("output %q is not valid UTF-8 JSON", out)
		}
		again, err := canonical(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q, %v", out, again, err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, in); err != nil {
			t.Fatalf("accepted %q, which encoding/json calls invalid: %v", in, err)
		}
		if len(out) > compact.Len() {
			t.Fatalf("canonical %q is longer than compact %q", out, compact.Bytes())
		}
		var a, b any
		if err := json.Unmarshal(in, &a); err != nil {
			t.Fatalf("accepted %q, which encoding/json cannot decode: %v", in, err)
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatalf("output %q does not decode: %v", out, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("meaning changed: %q (%v) -> %q (%v)", in, a, out, b)
		}
		// An independent strict decoder (encoding/json/v2's defaults)
		// reads whatever is accepted.
		var v any
		if err := jsonv2.Unmarshal(out, &v); err != nil {
			t.Fatalf("a strict decoder refuses %q: %v", out, err)
		}
	})
}

func BenchmarkCanonicalJSON_16KiBMessage(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"text":"`)
	for sb.Len() < 16<<10-100 {
		sb.WriteString(`héllo wörld \"quoted\" `)
	}
	sb.WriteString(`","mentions":[1,2,3]}`)
	in := []byte(sb.String())
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := canonical(in); err != nil {
			b.Fatal(err)
		}
	}
}
