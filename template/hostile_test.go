package template

import (
	"fmt"
	"strings"
	"testing"
)

// Hostile deployment templates end in a problem, within the evaluator's
// bounds (steps, depth, bytes built), never in a hang or a crash.
func TestHostileDeploymentTemplates(t *testing.T) {
	doubling := func(fn string, levels int) string { // v0 = "x…"; vN = fn(vN-1, vN-1): 2^levels when expanded
		var vars []string
		vars = append(vars, `"v0": "xxxxxxxxxxxxxxxx"`)
		for i := 1; i <= levels; i++ {
			vars = append(vars, fmt.Sprintf(`"v%d": "[%s(variables('v%d'), variables('v%d'))]"`, i, fn, i-1, i-1))
		}
		return strings.Join(vars, ",")
	}
	deep := strings.Repeat("concat(", 500) + "'x'" + strings.Repeat(")", 500)
	tests := []struct {
		name, variables, value, want string
	}{
		{"strings doubled through variables", doubling("concat", 20), "[variables('v20')]", "over 1048576 bytes"},
		{"strings doubled through more variables than the depth allows", doubling("concat", 40), "[variables('v40')]", "nested deeper than 64"},
		{"arrays doubled through variables, then printed", doubling("createArray", 20), "[string(variables('v20'))]", "is over 1048576 bytes as text"},
		{"arrays doubled, compared", doubling("createArray", 20), "[string(equals(variables('v20'), variables('v20')))]", "too large to compare"},
		{"arrays doubled, used whole", doubling("createArray", 20), "[variables('v20')]", "the evaluated image template is over 1048576 bytes"},
		{"replace that grows", `"s": "[replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace('ab', 'a', 'aa'), 'a', 'aa'), 'a', 'aa'), 'a', 'aa'), 'a', 'aa'), 'a', 'aa'), 'a', 'aa'), 'a', 'aa'), 'a', 'aa'), 'a', 'aa'), 'a', 'aa'), 'a', 'aa'), 'a', 'aa'), 'a', 'aa'), 'a', 'aa'), 'a', 'aa'), 'a', 'aa'), 'a', 'aa'), 'a', 'aa'), 'a', 'aa'), 'a', 'aa')]"`, "[variables('s')]", "over"},
		{"recursion through variables", `"a": "[variables('b')]", "b": "[variables('c')]", "c": "[variables('a')]"`, "[variables('a')]", "refers to itself"},
		{"deep nesting", `"d": "x"`, "[" + deep + "]", "nested deeper"},
		{"a huge split joined with itself", `"s": "[split(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace('a,a', 'a', 'a,a'), 'a', 'a,a'), 'a', 'a,a'), 'a', 'a,a'), 'a', 'a,a'), 'a', 'a,a'), 'a', 'a,a'), 'a', 'a,a'), 'a', 'a,a'), 'a', 'a,a'), 'a', 'a,a'), 'a', 'a,a'), 'a', 'a,a'), 'a', 'a,a'), 'a', 'a,a'), 'a', 'a,a'), ',')]"`, "[string(length(union(variables('s'), variables('s'), variables('s'))))]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl := `{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
			  "variables": {` + tt.variables + `},
			  "resources": [{"type": "Microsoft.VirtualMachineImages/imageTemplates", "apiVersion": "2024-02-01", "name": "h", "location": "westeurope",
			    "tags": {"t": "` + strings.ReplaceAll(tt.value, `"`, `\"`) + `"}}]}`
			out := ParseFile("h", []byte(tpl), nil, Options{Deployment: corpusDeployment})
			got := strings.Join(problemStrings(out[0].Problems), "\n")
			switch {
			case tt.want == "": // evaluated, fast, within bounds
				if strings.Contains(got, "tags.t") {
					t.Errorf("a problem at the tag: %s", got)
				}
			case !strings.Contains(got, "resources[0].tags.t") && !strings.Contains(got, "resources[0]: the evaluated image template is over"):
				t.Fatalf("no problem at the tag: %s", got)
			case !strings.Contains(got, tt.want):
				t.Errorf("want %q in:\n%s", tt.want, got)
			}
		})
	}
}
