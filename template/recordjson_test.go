package template

import (
	"encoding/json"
	"strings"
	"testing"
)

// A valid template's record says "problems": [], never null (issue 26).
func TestRecordListsAreNeverNull(t *testing.T) {
	for _, v := range []any{Record{Name: "ok", Valid: true}, &Record{Name: "ok", Valid: true}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"problems":[]`, `"warnings":[]`, `"upgradeNotes":[]`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%T: no %s in %s", v, want, b)
			}
		}
	}
	b, _ := json.Marshal(Record{Name: "bad", Problems: []Problem{{Path: "properties", Message: "m"}}})
	var back Record
	if err := json.Unmarshal(b, &back); err != nil || len(back.Problems) != 1 || back.Problems[0].Message != "m" || back.Name != "bad" {
		t.Errorf("round trip: %+v %v", back, err)
	}
}
