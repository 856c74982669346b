package jsontree

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseEncodeRoundTrip(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"scalars", `[ "a\"b", 1.50, -3, true, false, null ]`, `["a\"b",1.50,-3,true,false,null]`},
		{"member order kept", `{"z": 1, "a": {"y": [], "b": {}}}`, `{"z":1,"a":{"y":[],"b":{}}}`},
		{"duplicate keys kept", `{"k": 1, "K": 2, "k": 3}`, `{"k":1,"K":2,"k":3}`},
		{"unicode", `"é\u00e9"`, `"éé"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Parse([]byte(tc.in), 1<<10)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			n.Encode(&b)
			if b.String() != tc.want {
				t.Fatalf("Encode = %s, want %s", b.String(), tc.want)
			}
			again, err := Parse(b.Bytes(), 1<<10)
			if err != nil {
				t.Fatal(err)
			}
			var b2 bytes.Buffer
			again.Encode(&b2)
			if b2.String() != tc.want {
				t.Fatalf("second round = %s, want %s", b2.String(), tc.want)
			}
		})
	}
}

func TestDuplicateKeysAndLookup(t *testing.T) {
	n, err := Parse([]byte(`{"Name": "first", "name": "second", "Name": "third"}`), 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Members) != 3 {
		t.Fatalf("members = %d, want 3 (duplicates kept)", len(n.Members))
	}
	if got := n.Get("Name").Str; got != "first" {
		t.Errorf("Get(Name) = %q, want the first", got)
	}
	if got := n.GetFold("name").Str; got != "second" {
		t.Errorf("GetFold(name) = %q, want the exact match", got)
	}
	if got := n.GetFold("NAME").Str; got != "first" {
		t.Errorf("GetFold(NAME) = %q, want the first case-insensitive match", got)
	}
	if n.Get("NAME") != nil {
		t.Error("Get is case-sensitive")
	}
	if d := n.Describe(); d != "an object" {
		t.Errorf("Describe = %q", d)
	}
}

func TestDepthBound(t *testing.T) {
	ok := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	if _, err := Parse([]byte(ok), 1<<10); err != nil {
		t.Fatalf("%d levels: %v", MaxDepth+1, err)
	}
	deep := strings.Repeat("[", MaxDepth+2) + strings.Repeat("]", MaxDepth+2)
	_, err := Parse([]byte(deep), 1<<10)
	if err == nil || !strings.Contains(err.Error(), "nested deeper than 32 levels") {
		t.Fatalf("err = %v, want the depth bound", err)
	}
}

func TestSizeBound(t *testing.T) {
	in := []byte(`{"a": "0123456789"}`)
	if _, err := Parse(in, len(in)); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	_, err := Parse(in, len(in)-1)
	want := "template is 19 bytes, over the limit of 18"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"{\n  \"a\": 1,\n  \"b\": }", "line 3, column"},
		{`{"a": [1, 2`, "unexpected end of the template"},
		{`{} {}`, "text after the template's closing brace"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := Parse([]byte(tc.in), 1<<10)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestEncodeLimitedAndNumbers(t *testing.T) {
	n, err := Parse([]byte(`{"a": "xxxxxxxxxx", "b": [1, 2, 3]}`), 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if EncodeLimited(n, &b, 10) {
		t.Error("EncodeLimited reported success past its limit")
	}
	b.Reset()
	if !EncodeLimited(n, &b, 100) || b.String() != `{"a":"xxxxxxxxxx","b":[1,2,3]}` {
		t.Errorf("EncodeLimited = %s", b.String())
	}
	if v, ok := AsInt(&Node{Kind: 'n', Num: JSONNumber(-42)}); !ok || v != -42 {
		t.Errorf("AsInt(JSONNumber(-42)) = %d, %v", v, ok)
	}
	if _, ok := AsInt(&Node{Kind: 'n', Num: "1.5"}); ok {
		t.Error("AsInt accepted 1.5")
	}
	if _, ok := AsInt(&Node{Kind: '"', Str: "1"}); ok {
		t.Error("AsInt accepted a string")
	}
}
