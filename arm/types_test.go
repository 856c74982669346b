package arm

import (
	"strings"
	"testing"
)

// definitions shaped like the AVM image-template module's compiled
// main.json (Azure/bicep-registry-modules, avm/res/virtual-machine-images/
// image-template): a nullable lock object, a discriminated distribution
// type mapping SharedImage/ManagedImage/VHD to their own types, an array
// of role assignments; plus a sealed type, a tuple and a $ref chain.
const typeDefs = `"definitions": {
  "lockType": {"type": "object", "nullable": true, "properties": {
    "name": {"type": "string", "nullable": true},
    "kind": {"type": "string", "allowedValues": ["CanNotDelete", "None", "ReadOnly"], "nullable": true}}},
  "distributionType": {"type": "object", "discriminator": {"propertyName": "type", "mapping": {
    "SharedImage": {"$ref": "#/definitions/sharedImageType"},
    "VHD": {"$ref": "#/definitions/vhdType"}}}},
  "sharedImageType": {"type": "object", "properties": {
    "type": {"type": "string", "allowedValues": ["SharedImage"]},
    "galleryImageId": {"type": "string", "minLength": 10},
    "replicationRegions": {"type": "array", "items": {"type": "string"}, "nullable": true}}},
  "vhdType": {"type": "object", "properties": {"type": {"type": "string"}, "runOutputName": {"type": "string", "maxLength": 8}}},
  "roleType": {"type": "array", "nullable": true, "items": {"type": "object", "properties": {
    "principalId": {"type": "string"}, "principalType": {"type": "string", "nullable": true, "allowedValues": ["User", "ServicePrincipal"]}}}},
  "sealedType": {"type": "object", "sealed": true, "properties": {"a": {"type": "int", "minValue": 1, "maxValue": 5}}},
  "mapType": {"type": "object", "additionalProperties": {"type": "string"}},
  "pairType": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "int"}], "items": false},
  "alias": {"$ref": "#/definitions/sealedType"},
  "loop": {"$ref": "#/definitions/loop"}
}`

func TestParameterTypes(t *testing.T) {
	cases := []struct {
		name     string
		decl     string // the parameter's declaration
		value    string // its value in the parameters file; "" for none
		problems []string
	}{
		{"nullable $ref with no value is null", `{"$ref": "#/definitions/lockType"}`, "", nil},
		{"nullable $ref object", `{"$ref": "#/definitions/lockType"}`, `{"kind": "CanNotDelete"}`, nil},
		{"allowedValues inside a $ref type", `{"$ref": "#/definitions/lockType"}`, `{"kind": "Never"}`,
			[]string{`parameters.p.kind: "Never" is not one of the allowed values: CanNotDelete, None, ReadOnly`}},
		{"nullable declared on the parameter", `{"type": "string", "nullable": true}`, "", nil},
		{"not nullable, no value", `{"type": "string"}`, "", []string{"warning parameters.p: has no value"}},
		{"null for a type that is not nullable", `{"type": "string"}`, `null`, []string{"parameters.p: is null, and its type is not nullable"}},
		{"discriminated: each item by its type", `{"type": "array", "items": {"$ref": "#/definitions/distributionType"}}`,
			`[{"type": "SharedImage", "galleryImageId": "/subscriptions/x/images/y"}, {"type": "VHD", "runOutputName": "vhd"}]`, nil},
		{"discriminated: an unknown type", `{"type": "array", "items": {"$ref": "#/definitions/distributionType"}}`,
			`[{"type": "ManagedImage"}]`, []string{`parameters.p[0].type: "ManagedImage" is not one of the types: SharedImage, VHD`}},
		{"discriminated: no discriminator", `{"type": "array", "items": {"$ref": "#/definitions/distributionType"}}`,
			`[{"galleryImageId": "x"}]`, []string{"parameters.p[0].type: is required, one of: SharedImage, VHD"}},
		{"discriminated: the variant's own rules", `{"type": "array", "items": {"$ref": "#/definitions/distributionType"}}`,
			`[{"type": "SharedImage", "galleryImageId": "short", "replicationRegions": ["a", 2]}, {"type": "VHD", "runOutputName": "much-too-long"}]`,
			[]string{"parameters.p[0].galleryImageId: is 5 long, below the minLength 10",
				"parameters.p[0].replicationRegions[1]: is declared string but its value is a number",
				"parameters.p[1].runOutputName: is 13 long, above the maxLength 8"}},
		{"required property missing", `{"$ref": "#/definitions/roleType"}`, `[{"principalType": "User"}]`,
			[]string{"parameters.p[0].principalId: is required by the type"}},
		{"sealed: no other properties; bounds", `{"$ref": "#/definitions/alias"}`, `{"a": 9, "b": 1}`,
			[]string{"parameters.p.a: 9 is above the maxValue 5", "parameters.p.b: is not a property of the type"}},
		{"additionalProperties typed", `{"$ref": "#/definitions/mapType"}`, `{"x": "1", "y": 2}`,
			[]string{"parameters.p.y: is declared string but its value is a number"}},
		{"tuple", `{"$ref": "#/definitions/pairType"}`, `["a", "b", 3]`,
			[]string{"parameters.p[1]: is declared int but its value is a string", "parameters.p[2]: the tuple type has 2 items, not 3"}},
		{"$ref to nothing", `{"$ref": "#/definitions/nope"}`, `1`,
			[]string{`parameters.p.$ref: $ref "#/definitions/nope": the template's definitions have no type "nope"`}},
		{"$ref elsewhere", `{"$ref": "other.json#/definitions/x"}`, `1`,
			[]string{`parameters.p.$ref: $ref "other.json#/definitions/x": only "#/definitions/<name>" of this template is understood`}},
		{"$ref loop", `{"$ref": "#/definitions/loop"}`, `1`, []string{"through more than 32 definitions"}},
		{"array allowedValues: each item", `{"type": "array", "allowedValues": ["a", "b", "c"]}`, `["a", "c"]`, nil},
		{"array allowedValues: an item not allowed", `{"type": "array", "allowedValues": ["a", "b"]}`, `["a", "z"]`,
			[]string{`parameters.p: "[\"a\",\"z\"]" is not one of the allowed values: a, b`}},
		{"a type by its properties alone", `{"properties": {"n": {"type": "int"}}}`, `{"n": "x"}`,
			[]string{"parameters.p.n: is declared int but its value is a string"}},
		{"an unknown type", `{"type": "decimal"}`, `1`, []string{"parameters.p.type: must be one of string"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tpl := `{` + schema + `, "languageVersion": "2.0", ` + typeDefs + `, "parameters": {"p": ` + c.decl + `}, "resources": {}}`
			var params []byte
			if c.value != "" {
				params = []byte(`{"p": {"value": ` + c.value + `}}`)
			}
			d, err := Evaluate([]byte(tpl), params, testScope)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range d.Problems {
				if !strings.HasPrefix(p.Path, "outputs") {
					got = append(got, p.String())
				}
			}
			for _, p := range d.Warnings {
				got = append(got, "warning "+p.String())
			}
			if len(got) != len(c.problems) {
				t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.problems, "\n"))
			}
			for i, want := range c.problems {
				if !strings.Contains(got[i], want) {
					t.Errorf("finding %d = %q, want it to hold %q", i, got[i], want)
				}
			}
		})
	}
}

func TestNullableParameterReadsAsNull(t *testing.T) {
	tpl := `{` + schema + `, "languageVersion": "2.0", ` + typeDefs + `,
	  "parameters": {"lock": {"$ref": "#/definitions/lockType"}, "subnet": {"type": "string", "nullable": true}},
	  "resources": {"img": {"type": "A.B/c", "apiVersion": "1", "name": "n",
	    "properties": {"vnetConfig": "[if(not(empty(parameters('subnet'))), createObject('subnetId', parameters('subnet')), null())]", "lock": "[parameters('lock')]", "kept": "k"}}},
	  "outputs": {"isNull": {"type": "bool", "value": "[equals(parameters('lock'), null())]"}}}`
	d, err := Evaluate([]byte(tpl), nil, testScope)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Problems)+len(d.Warnings) != 0 {
		t.Fatalf("problems %v warnings %v", d.Problems, d.Warnings)
	}
	if got := string(d.Resources[0].Body); got != `{"type":"A.B/c","apiVersion":"1","name":"n","properties":{"kept":"k"}}` {
		t.Errorf("body = %s", got)
	}
	if d.Outputs["isNull"] != true {
		t.Errorf("outputs = %v", d.Outputs)
	}
}

func TestTypeShapes(t *testing.T) {
	ev := newEvaluator(&node{Kind: '{'}, testScope)
	for _, c := range []struct {
		decl, value, want string
	}{
		{`{"items": {"type": "int"}}`, `[1, "x"]`, "[1]: is declared int but its value is a string"},
		{`{"prefixItems": [{"type": "int"}, {"type": "string"}]}`, `[1]`, "[1]: is required by the tuple type"},
		{`{"prefixItems": [{"type": "int"}, {"type": "string", "nullable": true}]}`, `[1]`, ""},
		{`{"type": "any"}`, `{"a": 1}`, ""},
		{`{"additionalProperties": false, "properties": {"a": {"type": "int"}}}`, `{"a": 1, "b": 2}`, "b: is not a property of the type"},
		{`{"discriminator": {"propertyName": "k"}}`, `{"k": "a"}`, "the type's discriminator needs a propertyName and a mapping"},
		{`{"type": "object"}`, `{"x": 1}`, ""},
		{`7`, `1`, "the type must be an object, not a number"},
		{`{"$ref": 7}`, `1`, "$ref must be a string"},
	} {
		decl, err := parseJSON([]byte(c.decl))
		if err != nil {
			t.Fatal(err)
		}
		v, err := parseJSON([]byte(c.value))
		if err != nil {
			t.Fatal(err)
		}
		if got := ev.typeProblem(decl, v, 0); !strings.Contains(got, c.want) || (c.want == "") != (got == "") {
			t.Errorf("%s with %s: %q, want %q", c.decl, c.value, got, c.want)
		}
	}
}
