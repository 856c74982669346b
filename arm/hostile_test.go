package arm

import (
	"fmt"
	"strings"
	"testing"
)

// Values that double through variables end in a problem at the resource
// or output that uses them, within the bounds, never in a hang.
func TestHostileValuesAreBounded(t *testing.T) {
	var vars []string
	vars = append(vars, `"v0": "xxxxxxxxxxxxxxxx"`)
	for i := 1; i <= 20; i++ {
		vars = append(vars, fmt.Sprintf(`"v%d": "[createArray(variables('v%d'), variables('v%d'))]"`, i, i-1, i-1))
	}
	tpl := `{` + schema + `, "variables": {` + strings.Join(vars, ",") + `},
	  "resources": [{"type": "A.B/c", "apiVersion": "1", "name": "n", "tags": {"t": "[variables('v20')]"}},
	    {"type": "A.B/c", "apiVersion": "1", "name": "m", "tags": {"t": "[string(variables('v20'))]"}}],
	  "outputs": {"o": {"type": "array", "value": "[variables('v20')]"}, "e": {"type": "bool", "value": "[equals(variables('v20'), variables('v20'))]"}}}`
	d, err := Evaluate([]byte(tpl), nil, testScope)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Resources) != 2 || d.Resources[0].Body != nil || len(d.Resources[0].Problems) != 1 ||
		d.Resources[0].Problems[0].String() != fmt.Sprintf("resources[0]: %s %d bytes", MsgTooLarge, MaxBytes) {
		t.Fatalf("%+v", d.Resources[0])
	}
	if p := d.Resources[1].Problems; len(p) != 1 || !strings.Contains(p[0].Message, "as text") {
		t.Errorf("string(): %v", p)
	}
	var all []string
	for _, p := range d.Problems {
		all = append(all, p.String())
	}
	got := strings.Join(all, "\n")
	for _, want := range []string{"outputs.o.value: the evaluated output is over 1048576 bytes", "outputs.e.value: [equals(variables('v20'), variables('v20'))]: the values are too large to compare"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in:\n%s", want, got)
		}
	}
}
