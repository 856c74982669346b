package placeholder

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	url := "http://127.0.0.1:10000/devstoreaccount1/scripts"
	for _, tt := range []struct {
		name, in, want string
		v              Values
		missing        []string
	}{
		{"the scripts URL", `{"scriptUri": "${SCRIPTS_URL}/avd/x.ps1"}`, `{"scriptUri": "` + url + `/avd/x.ps1"}`, Values{ScriptsURL: url}, nil},
		{"a trailing slash is not doubled", `"${SCRIPTS_URL}/a.sh"`, `"` + url + `/a.sh"`, Values{ScriptsURL: url + "/"}, nil},
		{"every occurrence", `"${SCRIPTS_URL}/a" "${SCRIPTS_URL}/b"`, `"` + url + `/a" "` + url + `/b"`, Values{ScriptsURL: url}, nil},
		{"no value: left as it is", `"${SCRIPTS_URL}/a"`, `"${SCRIPTS_URL}/a"`, nil, []string{ScriptsURL}},
		{"an undocumented name is left", `"${HOME}/a" "$SCRIPTS_URL"`, `"${HOME}/a" "$SCRIPTS_URL"`, Values{ScriptsURL: url, "HOME": "/root"}, nil},
		{"JSON-escaped", `{"u": "${SCRIPTS_URL}/a"}`, `{"u": "x\"y\\z/a"}`, Values{ScriptsURL: `x"y\z`}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := string(Expand([]byte(tt.in), tt.v))
			if got != tt.want {
				t.Errorf("Expand = %s, want %s", got, tt.want)
			}
			if m := Missing([]byte(tt.in), tt.v); !reflect.DeepEqual(m, tt.missing) && (len(m) != 0 || len(tt.missing) != 0) {
				t.Errorf("Missing = %v, want %v", m, tt.missing)
			}
			if tt.name == "JSON-escaped" {
				var v map[string]string
				if err := json.Unmarshal([]byte(got), &v); err != nil || v["u"] != `x"y\z/a` {
					t.Errorf("not valid JSON with the value: %v %v", v, err)
				}
			}
		})
	}
}

// FuzzExpand: valid JSON stays valid JSON whatever the value, and nothing
// but documented placeholders changes.
func FuzzExpand(f *testing.F) {
	f.Add(`{"u": "${SCRIPTS_URL}/a"}`, "http://x/scripts")
	f.Add(`{"u": "${HOME}"}`, `a"b\c`)
	f.Fuzz(func(t *testing.T, doc, val string) {
		if !json.Valid([]byte(doc)) {
			return
		}
		out := Expand([]byte(doc), Values{ScriptsURL: val})
		if !json.Valid(out) {
			t.Errorf("%q with %q gave invalid JSON %q", doc, val, out)
		}
		if !strings.Contains(doc, "${SCRIPTS_URL}") && string(out) != doc {
			t.Errorf("%q changed without the placeholder: %q", doc, out)
		}
	})
}
