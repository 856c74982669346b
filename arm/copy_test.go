package arm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// canonical re-encodes JSON text with sorted keys, for comparisons.
func canonical(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(x)
	return string(out)
}

func jsonText(t *testing.T, s string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		t.Fatalf("%v in %s", err, s)
	}
	return canonical(t, x)
}

// The documented examples of Microsoft Learn's four copy pages, as test
// cases: the template (shortened to what the example shows), the
// documented outputs, the names of the resources it creates and fragments
// of their bodies.
//   - copy-variables: "Variable iteration in ARM templates"
//   - copy-properties: "Property iteration in ARM templates"
//   - copy-resources: "Resource iteration in ARM templates"
//   - copy-outputs: "Output iteration in ARM templates"
func TestCopyLoopsDocumentedExamples(t *testing.T) {
	rgID := "/subscriptions/" + testScope.SubscriptionID + "/resourceGroups/" + testScope.ResourceGroup
	u := uniqueString(rgID)
	disks := func(loop string) string {
		var items []string
		for i := 0; i < 5; i++ {
			items = append(items, fmt.Sprintf(`{"name": "myDataDisk%d", "diskSizeGB": "1", "diskIndex": %d}`, i+1, i))
		}
		return "[" + strings.Join(items, ",") + "]"
	}
	itemCount := `"parameters": {"itemCount": {"type": "int", "defaultValue": 5}}`
	tests := []struct {
		page, name  string
		template    string
		parameters  string
		needs       string            // a function the example uses, when not evaluated here yet
		outputs     map[string]string // documented output values (JSON)
		resources   []string          // names of the resources created, in order
		bodyHas     []string          // fragments of the first resource's body
		problemHas  string            // a problem the example must give (values only Azure knows)
		problemPath string
	}{
		{page: "copy-variables", name: "an array of strings",
			template: `{` + itemCount + `, "variables": {"copy": [{"name": "stringArray", "count": "[parameters('itemCount')]", "input": "[concat('item', copyIndex('stringArray', 1))]"}]},
			  "resources": [], "outputs": {"arrayResult": {"type": "array", "value": "[variables('stringArray')]"}}}`,
			outputs: map[string]string{"arrayResult": `["item1", "item2", "item3", "item4", "item5"]`}},
		{page: "copy-variables", name: "an array of objects",
			template: `{` + itemCount + `, "variables": {"copy": [{"name": "objectArray", "count": "[parameters('itemCount')]",
			  "input": {"name": "[concat('myDataDisk', copyIndex('objectArray', 1))]", "diskSizeGB": "1", "diskIndex": "[copyIndex('objectArray')]"}}]},
			  "resources": [], "outputs": {"arrayResult": {"type": "array", "value": "[variables('objectArray')]"}}}`,
			outputs: map[string]string{"arrayResult": disks("objectArray")}},
		{page: "copy-variables", name: "copy within a variable",
			template: `{` + itemCount + `, "variables": {"topLevelObject": {"sampleProperty": "sampleValue", "copy": [{"name": "disks", "count": "[parameters('itemCount')]",
			  "input": {"name": "[concat('myDataDisk', copyIndex('disks', 1))]", "diskSizeGB": "1", "diskIndex": "[copyIndex('disks')]"}}]}},
			  "resources": [], "outputs": {"objectResult": {"type": "object", "value": "[variables('topLevelObject')]"}}}`,
			outputs: map[string]string{"objectResult": `{"sampleProperty": "sampleValue", "disks": ` + disks("disks") + `}`}},
		{page: "copy-variables", name: "the different ways to use copy with variables",
			template: `{"parameters": {}, "variables": {
			    "disk-array-on-object": {"copy": [
			      {"name": "disks", "count": 5, "input": {"name": "[concat('myDataDisk', copyIndex('disks', 1))]", "diskSizeGB": "1", "diskIndex": "[copyIndex('disks')]"}},
			      {"name": "diskNames", "count": 5, "input": "[concat('myDataDisk', copyIndex('diskNames', 1))]"}]},
			    "copy": [
			      {"name": "top-level-object-array", "count": 5, "input": {"name": "[concat('myDataDisk', copyIndex('top-level-object-array', 1))]", "diskSizeGB": "1", "diskIndex": "[copyIndex('top-level-object-array')]"}},
			      {"name": "top-level-string-array", "count": 5, "input": "[concat('myDataDisk', copyIndex('top-level-string-array', 1))]"},
			      {"name": "top-level-integer-array", "count": 5, "input": "[copyIndex('top-level-integer-array')]"}]},
			  "resources": [], "outputs": {
			    "exampleObject": {"value": "[variables('disk-array-on-object')]", "type": "object"},
			    "exampleArrayOnObject": {"value": "[variables('disk-array-on-object').disks]", "type": "array"},
			    "exampleObjectArray": {"value": "[variables('top-level-object-array')]", "type": "array"},
			    "exampleStringArray": {"value": "[variables('top-level-string-array')]", "type": "array"},
			    "exampleIntegerArray": {"value": "[variables('top-level-integer-array')]", "type": "array"}}}`,
			outputs: map[string]string{
				"exampleObject":        `{"disks": ` + disks("disks") + `, "diskNames": ["myDataDisk1", "myDataDisk2", "myDataDisk3", "myDataDisk4", "myDataDisk5"]}`,
				"exampleArrayOnObject": disks("disks"),
				"exampleObjectArray":   disks("top-level-object-array"),
				"exampleStringArray":   `["myDataDisk1", "myDataDisk2", "myDataDisk3", "myDataDisk4", "myDataDisk5"]`,
				"exampleIntegerArray":  `[0, 1, 2, 3, 4]`,
			}},
		{page: "copy-properties", name: "dataDisks of a virtual machine",
			template: `{"parameters": {"numberOfDataDisks": {"type": "int", "minValue": 0, "maxValue": 16, "defaultValue": 3}},
			  "resources": [{"type": "Microsoft.Compute/virtualMachines", "apiVersion": "2020-06-01", "name": "examplevm", "properties": {"storageProfile": {
			    "copy": [{"name": "dataDisks", "count": "[parameters('numberOfDataDisks')]", "input": {"lun": "[copyIndex('dataDisks')]", "createOption": "Empty", "diskSizeGB": 1023}}]}}}]}`,
			resources: []string{"examplevm"},
			bodyHas:   []string{`"storageProfile":{"dataDisks":[{"lun":0,"createOption":"Empty","diskSizeGB":1023},{"lun":1,"createOption":"Empty","diskSizeGB":1023},{"lun":2,"createOption":"Empty","diskSizeGB":1023}]}`}},
		{page: "copy-properties", name: "a failover group for databases passed as an array",
			template: `{"parameters": {"primaryServerName": {"type": "string"}, "secondaryServerName": {"type": "string"}, "databaseNames": {"type": "array", "defaultValue": ["mydb1", "mydb2", "mydb3"]}},
			  "variables": {"failoverName": "[concat(parameters('primaryServerName'),'/', parameters('primaryServerName'),'failovergroups')]"},
			  "resources": [{"type": "Microsoft.Sql/servers/failoverGroups", "apiVersion": "2015-05-01-preview", "name": "[variables('failoverName')]",
			    "properties": {"readWriteEndpoint": {"failoverPolicy": "Automatic", "failoverWithDataLossGracePeriodMinutes": 60}, "readOnlyEndpoint": {"failoverPolicy": "Disabled"},
			      "partnerServers": [{"id": "[resourceId('Microsoft.Sql/servers', parameters('secondaryServerName'))]"}],
			      "copy": [{"name": "databases", "count": "[length(parameters('databaseNames'))]",
			        "input": "[resourceId('Microsoft.Sql/servers/databases', parameters('primaryServerName'), parameters('databaseNames')[copyIndex('databases')])]"}]}}],
			  "outputs": {}}`,
			parameters: `{"primaryServerName": {"value": "sql1"}, "secondaryServerName": {"value": "sql2"}}`,
			resources:  []string{"sql1/sql1failovergroups"},
			bodyHas: []string{`"partnerServers":[{"id":"` + rgID + `/providers/Microsoft.Sql/servers/sql2"}],"databases":["` +
				rgID + `/providers/Microsoft.Sql/servers/sql1/databases/mydb1","` + rgID + `/providers/Microsoft.Sql/servers/sql1/databases/mydb2","` +
				rgID + `/providers/Microsoft.Sql/servers/sql1/databases/mydb3"]`}},
		{page: "copy-properties", name: "more than one property loop",
			template: `{"parameters": {"loadBalancingRules": {"type": "array", "defaultValue": ["a", "b"]}},
			  "resources": [{"type": "Microsoft.Network/loadBalancers", "apiVersion": "2017-10-01", "name": "exampleLB", "properties": {"copy": [
			    {"name": "loadBalancingRules", "count": "[length(parameters('loadBalancingRules'))]", "input": {"name": "[parameters('loadBalancingRules')[copyIndex('loadBalancingRules')]]"}},
			    {"name": "probes", "count": "[length(parameters('loadBalancingRules'))]", "input": {"name": "[concat('probe-', copyIndex('probes'))]"}}]}}]}`,
			resources: []string{"exampleLB"},
			bodyHas:   []string{`"properties":{"loadBalancingRules":[{"name":"a"},{"name":"b"}],"probes":[{"name":"probe-0"},{"name":"probe-1"}]}`}},
		{page: "copy-properties", name: "resource and property iterations together",
			template: `{"parameters": {"vnetname": {"type": "string", "defaultValue": "vnet"}, "addressPrefix": {"type": "string", "defaultValue": "10.0.0.0/16"}},
			  "variables": {"subnetAddressPrefix": ["10.0.0.0/24", "10.0.1.0/24"]},
			  "resources": [{"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2018-04-01", "name": "[concat(parameters('vnetname'), copyIndex())]",
			    "copy": {"count": 2, "name": "vnetloop"}, "location": "[resourceGroup().location]",
			    "properties": {"addressSpace": {"addressPrefixes": ["[parameters('addressPrefix')]"]},
			      "copy": [{"name": "subnets", "count": 2, "input": {"name": "[concat('subnet-', copyIndex('subnets'))]",
			        "properties": {"addressPrefix": "[variables('subnetAddressPrefix')[copyIndex('subnets')]]"}}}]}}]}`,
			resources: []string{"vnet0", "vnet1"},
			bodyHas:   []string{`"location":"westeurope"`, `"subnets":[{"name":"subnet-0","properties":{"addressPrefix":"10.0.0.0/24"}},{"name":"subnet-1","properties":{"addressPrefix":"10.0.1.0/24"}}]`}},
		{page: "copy-resources", name: "storage accounts counted with range",
			needs: "range",
			template: `{"parameters": {"location": {"type": "string", "defaultValue": "[resourceGroup().location]"}, "storageCount": {"type": "int", "defaultValue": 3}},
			  "resources": [{"copy": {"name": "storagecopy", "count": "[length(range(0, parameters('storageCount')))]"}, "type": "Microsoft.Storage/storageAccounts", "apiVersion": "2022-09-01",
			    "name": "[format('{0}storage{1}', range(0, parameters('storageCount'))[copyIndex()], uniqueString(resourceGroup().id))]", "location": "[parameters('location')]",
			    "sku": {"name": "Standard_LRS"}, "kind": "Storage", "properties": {}}]}`,
			resources: []string{"0storage" + u, "1storage" + u, "2storage" + u}},
		{page: "copy-resources", name: "copyIndex() is zero-based",
			template:  `{"resources": [{"copy": {"name": "storagecopy", "count": 3}, "type": "Microsoft.Storage/storageAccounts", "apiVersion": "2022-09-01", "name": "[format('storage{0}', copyIndex())]"}]}`,
			resources: []string{"storage0", "storage1", "storage2"}},
		{page: "copy-resources", name: "copyIndex(1) offsets the index",
			template:  `{"resources": [{"copy": {"name": "storagecopy", "count": 3}, "type": "Microsoft.Storage/storageAccounts", "apiVersion": "2022-09-01", "name": "[format('storage{0}', copyIndex(1))]"}]}`,
			resources: []string{"storage1", "storage2", "storage3"}},
		{page: "copy-resources", name: "one storage account per name in a parameter",
			template: `{"parameters": {"storageNames": {"type": "array", "defaultValue": ["contoso", "fabrikam", "coho"]}, "location": {"type": "string", "defaultValue": "[resourceGroup().location]"}},
			  "resources": [{"copy": {"name": "storagecopy", "count": "[length(parameters('storageNames'))]"}, "type": "Microsoft.Storage/storageAccounts", "apiVersion": "2022-09-01",
			    "name": "[format('{0}{1}', parameters('storageNames')[copyIndex()], uniqueString(resourceGroup().id))]", "location": "[parameters('location')]",
			    "sku": {"name": "Standard_LRS"}, "kind": "Storage", "properties": {}}]}`,
			resources: []string{"contoso" + u, "fabrikam" + u, "coho" + u},
			bodyHas:   []string{`"location":"westeurope"`, `"sku":{"name":"Standard_LRS"}`}},
		{page: "copy-resources", name: "symbolic name of a loop (languageVersion 2.0)",
			template: `{"languageVersion": "2.0", "parameters": {"location": {"type": "string", "defaultValue": "[resourceGroup().location]"}, "storageCount": {"type": "int", "defaultValue": 2}},
			  "resources": {"myStorages": {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2022-09-01", "name": "[format('{0}storage{1}', copyIndex(), uniqueString(resourceGroup().id))]",
			    "location": "[parameters('location')]", "sku": {"name": "Standard_LRS"}, "kind": "Storage", "properties": {}, "copy": {"name": "storagecopy", "count": "[parameters('storageCount')]"}}},
			  "outputs": {"storageEndpoint": {"type": "object", "value": "[reference('myStorages[1]').primaryEndpoints]"}}}`,
			resources:   []string{"0storage" + u, "1storage" + u},
			problemHas:  "reference() is not supported offline",
			problemPath: "outputs.storageEndpoint.value"},
		{page: "copy-resources", name: "serial, two at a time",
			needs: "range",
			template: `{"parameters": {"location": {"type": "string", "defaultValue": "[resourceGroup().location]"}},
			  "resources": [{"copy": {"name": "storagecopy", "count": 4, "mode": "serial", "batchSize": 2}, "type": "Microsoft.Storage/storageAccounts", "apiVersion": "2022-09-01",
			    "name": "[format('{0}storage{1}', range(0, 4)[copyIndex()], uniqueString(resourceGroup().id))]", "location": "[parameters('location')]",
			    "sku": {"name": "Standard_LRS"}, "kind": "Storage", "properties": {}}]}`,
			resources: []string{"0storage" + u, "1storage" + u, "2storage" + u, "3storage" + u}},
		{page: "copy-resources", name: "a child resource made top-level to loop",
			template: `{"resources": [{"type": "Microsoft.DataFactory/factories", "apiVersion": "2018-06-01", "name": "exampleDataFactory"},
			  {"type": "Microsoft.DataFactory/factories/datasets", "apiVersion": "2018-06-01", "name": "[format('exampleDataFactory/exampleDataSet{0}', copyIndex())]",
			    "dependsOn": ["exampleDataFactory"], "copy": {"name": "datasetcopy", "count": "3"}}]}`,
			resources: []string{"exampleDataFactory", "exampleDataFactory/exampleDataSet0", "exampleDataFactory/exampleDataSet1", "exampleDataFactory/exampleDataSet2"}},
		{page: "copy-outputs", name: "an endpoint for each storage account (reference: only Azure knows)",
			template: `{"parameters": {"storageCount": {"type": "int", "defaultValue": 2}}, "variables": {"baseName": "[concat('storage', uniqueString(resourceGroup().id))]"},
			  "resources": [{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2019-04-01", "name": "[concat(copyIndex(), variables('baseName'))]", "location": "[resourceGroup().location]",
			    "sku": {"name": "Standard_LRS"}, "kind": "Storage", "properties": {}, "copy": {"name": "storagecopy", "count": "[parameters('storageCount')]"}}],
			  "outputs": {"storageEndpoints": {"type": "array", "copy": {"count": "[parameters('storageCount')]", "input": "[reference(concat(copyIndex(), variables('baseName'))).primaryEndpoints.blob]"}}}}`,
			resources:   []string{"0storage" + u, "1storage" + u},
			problemHas:  "reference() is not supported offline",
			problemPath: "outputs.storageEndpoints.copy.input"},
		{page: "copy-outputs", name: "an output loop over values known offline",
			template: `{"parameters": {"storageCount": {"type": "int", "defaultValue": 2}}, "variables": {"baseName": "[concat('storage', uniqueString(resourceGroup().id))]"},
			  "resources": [], "outputs": {"names": {"type": "array", "copy": {"count": "[parameters('storageCount')]", "input": {"name": "[concat(copyIndex(), variables('baseName'))]", "i": "[copyIndex(1)]"}}}}}`,
			outputs: map[string]string{"names": `[{"name": "0storage` + u + `", "i": 1}, {"name": "1storage` + u + `", "i": 2}]`}},
	}
	reproduced := 0
	for _, tt := range tests {
		t.Run(tt.page+"/"+tt.name, func(t *testing.T) {
			if _, ok := armFunctions[tt.needs]; tt.needs != "" && !ok {
				t.Skipf("uses %s(), which the function table does not have yet", tt.needs)
			}
			var params []byte
			if tt.parameters != "" {
				params = []byte(tt.parameters)
			}
			d, err := Evaluate([]byte(strings.Replace(tt.template, "{", "{"+schema+", ", 1)), params, testScope)
			if err != nil {
				t.Fatal(err)
			}
			var problems []string
			for _, p := range d.Problems {
				problems = append(problems, p.String())
			}
			var names []string
			for _, r := range d.Resources {
				names = append(names, r.Name)
				for _, p := range r.Problems {
					problems = append(problems, p.String())
				}
			}
			all := strings.Join(problems, "\n")
			switch {
			case tt.problemHas == "" && len(problems) > 0:
				t.Fatalf("problems:\n%s", all)
			case tt.problemHas != "" && !strings.Contains(all, tt.problemPath+": ") || !strings.Contains(all, tt.problemHas):
				t.Errorf("want %q at %s, got:\n%s", tt.problemHas, tt.problemPath, all)
			}
			if strings.Join(names, " ") != strings.Join(tt.resources, " ") {
				t.Errorf("resources %q, want %q", names, tt.resources)
			}
			for _, frag := range tt.bodyHas {
				if len(d.Resources) == 0 || !strings.Contains(string(d.Resources[0].Body), frag) {
					t.Errorf("no %s in the body: %s", frag, d.Resources)
				}
			}
			for name, want := range tt.outputs {
				if got := canonical(t, d.Outputs[name]); got != jsonText(t, want) {
					t.Errorf("output %s\n got %s\nwant %s", name, got, jsonText(t, want))
				}
			}
			if !t.Failed() {
				reproduced++
			}
		})
	}
	t.Logf("copy loops: %d of %d documented examples reproduced", reproduced, len(tests))
}

// The copy pages' limits: a count from 0 to 800, batchSize up to the
// count, mode serial or parallel; copyIndex only where a loop gives it.
func TestCopyLoopLimits(t *testing.T) {
	res := func(copy, name string) string {
		return `{"resources": [{"type": "A.B/c", "apiVersion": "1", "name": "` + name + `", "copy": ` + copy + `}]}`
	}
	tests := []struct {
		name, template string
		resources      int
		problem        string // "" for none
	}{
		{"count 0 makes none", res(`{"name": "l", "count": 0}`, "[concat('n', copyIndex())]"), 0, ""},
		{"count 800 is the most", res(`{"name": "l", "count": 800}`, "[concat('n', copyIndex())]"), 800, ""},
		{"count 801", res(`{"name": "l", "count": 801}`, "n"), 1, "resources[0].copy.count: the count of a copy loop can't exceed 800 (801)"},
		{"a negative count", res(`{"name": "l", "count": "[sub(0, 1)]"}`, "n"), 1, "resources[0].copy.count: the count of a copy loop can't be negative (-1)"},
		{"a count that is no number", res(`{"name": "l", "count": "many"}`, "n"), 1, "resources[0].copy.count: the count of a copy loop must be a whole number, not a string"},
		{"no count", res(`{"name": "l"}`, "n"), 1, "resources[0].copy.count: a copy loop needs a count"},
		{"no name", res(`{"count": 2}`, "n"), 1, "resources[0].copy.name: a resource's copy loop needs a name"},
		{"serial in batches", res(`{"name": "l", "count": 4, "mode": "serial", "batchSize": 2}`, "[concat('n', copyIndex())]"), 4, ""},
		{"batchSize over the count", res(`{"name": "l", "count": 2, "mode": "serial", "batchSize": 3}`, "n"), 1, "resources[0].copy.batchSize: batchSize must be from 1 to the loop's count (2), not 3"},
		{"an unknown mode", res(`{"name": "l", "count": 2, "mode": "sequential"}`, "n"), 1, `resources[0].copy.mode: mode must be "serial" or "parallel", not sequential`},
		{"copyIndex() outside a loop", `{"resources": [{"type": "A.B/c", "apiVersion": "1", "name": "[concat('n', copyIndex())]"}]}`, 1,
			"resources[0].name: [concat('n', copyIndex())]: copyIndex() can be used only inside a copy loop"},
		{"copyIndex of another loop", res(`{"name": "l", "count": 1}`, "[concat('n', copyIndex('m'))]"), 1, `copyIndex('m') is outside a copy loop named "m"`},
		{"a property loop's copyIndex must name it", `{"resources": [{"type": "A.B/c", "apiVersion": "1", "name": "n", "properties": {"copy": [{"name": "p", "count": 1, "input": "[copyIndex()]"}]}}]}`, 1,
			"resources[0].properties.copy[0].input: [copyIndex()]: copyIndex() in a property or variable loop must name the loop"},
		{"a property loop over 800", `{"resources": [{"type": "A.B/c", "apiVersion": "1", "name": "n", "properties": {"copy": [{"name": "p", "count": 801, "input": 1}]}}]}`, 1,
			"resources[0].properties.copy[0].count: the count of a copy loop can't exceed 800 (801)"},
		{"a variable loop with a negative count", `{"variables": {"copy": [{"name": "v", "count": -2, "input": 1}]}, "resources": [{"type": "A.B/c", "apiVersion": "1", "name": "[string(variables('v'))]"}]}`, 1,
			"variables.copy[0].count: the count of a copy loop can't be negative (-2)"},
		{"an output loop over 800", `{"resources": [], "outputs": {"o": {"type": "array", "copy": {"count": 900, "input": 1}}}}`, 0,
			"outputs.o.copy.count: the count of a copy loop can't exceed 800 (900)"},
		{"nested loops stay bounded", `{"resources": [{"type": "A.B/c", "apiVersion": "1", "name": "n", "copy": {"name": "r", "count": 800},
		    "properties": {"copy": [{"name": "a", "count": 800, "input": {"copy": [{"name": "b", "count": 800, "input": {"x": "[copyIndex('b')]"}}]}}]}}]}`, -1,
			"steps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Evaluate([]byte(strings.Replace(tt.template, "{", "{"+schema+", ", 1)), nil, testScope)
			if err != nil {
				t.Fatal(err)
			}
			var problems []string
			for _, p := range d.Problems {
				problems = append(problems, p.String())
			}
			for _, r := range d.Resources {
				for _, p := range r.Problems {
					problems = append(problems, p.String())
				}
			}
			all := strings.Join(problems, "\n")
			if tt.problem == "" && all != "" || tt.problem != "" && !strings.Contains(all, tt.problem) {
				t.Errorf("problems:\n%s\nwant %q", all, tt.problem)
			}
			if tt.resources >= 0 && len(d.Resources) != tt.resources {
				t.Errorf("%d resources, want %d", len(d.Resources), tt.resources)
			}
		})
	}
}
