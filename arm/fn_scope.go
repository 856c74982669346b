package arm

import (
	"fmt"
	"strings"
)

// The scope and deployment functions of ARM templates (Microsoft Learn,
// template-functions-scope and template-functions-deployment):
// subscription(), resourceGroup(), tenant(), managementGroup(),
// deployment() and environment(), with the documented shapes. What only a
// live Azure knows (a tenant's display name, a management group's
// properties, deployment().properties.templateHash) is an unknown value: a
// problem naming it when read, null when the whole object is written out.
var scopeFunctions = map[string]armFunc{
	"subscription":    {min: 0, max: 0, call: func(ev *evaluator, _ []*node, _ int) (*node, error) { return ev.subscriptionFn() }},
	"resourcegroup":   {min: 0, max: 0, call: func(ev *evaluator, _ []*node, _ int) (*node, error) { return ev.resourceGroupFn() }},
	"tenant":          {min: 0, max: 0, call: func(ev *evaluator, _ []*node, _ int) (*node, error) { return ev.tenantFn() }},
	"managementgroup": {min: 0, max: 1, call: managementGroupFn},
	"deployment":      {min: 0, max: 0, call: func(ev *evaluator, _ []*node, _ int) (*node, error) { return ev.deploymentFn(), nil }},
	"environment":     {min: 0, max: 0, call: func(ev *evaluator, _ []*node, _ int) (*node, error) { return ev.environmentFn() }},
}

// kindUnknown marks a value that exists in Azure but is not known offline;
// str names it. evaluator.property turns reading one into a problem.
const kindUnknown = 'u'

func unknownNode(what string) *node { return &node{Kind: kindUnknown, Str: what} }

func object(kv ...any) *node {
	o := &node{Kind: '{'}
	for i := 0; i+1 < len(kv); i += 2 {
		v := kv[i+1]
		var n *node
		switch x := v.(type) {
		case string:
			n = strNode(x)
		case *node:
			n = x
		case []string:
			n = &node{Kind: '['}
			for _, s := range x {
				n.Items = append(n.Items, strNode(s))
			}
		}
		o.Members = append(o.Members, member{Key: kv[i].(string), Val: n})
	}
	return o
}

// subscriptionFn is subscription(): {id, subscriptionId, tenantId,
// displayName} (template-functions-scope#subscription); the display name
// is the live subscription's.
func (ev *evaluator) subscriptionFn() (*node, error) {
	sub, err := ev.scoped("the subscription", ev.scope.SubscriptionID)
	if err != nil {
		return nil, err
	}
	tenant := unknownNode("the tenant")
	if ev.scope.TenantID != "" {
		tenant = strNode(ev.scope.TenantID)
	}
	return object("id", "/subscriptions/"+sub, "subscriptionId", sub, "tenantId", tenant,
		"displayName", unknownNode("the subscription's display name")), nil
}

// resourceGroupFn is resourceGroup(): {id, name, type, location,
// managedBy?, tags?, properties: {provisioningState}}
// (template-functions-scope#resourcegroup); the group exists while its
// deployment runs, so its provisioningState is "Succeeded" as the page shows.
func (ev *evaluator) resourceGroupFn() (*node, error) {
	sub, err := ev.scoped("the subscription", ev.scope.SubscriptionID)
	if err != nil {
		return nil, err
	}
	rg, err := ev.scoped("the resource group", ev.scope.ResourceGroup)
	if err != nil {
		return nil, err
	}
	loc := unknownNode("the resource group's location")
	if ev.scope.Location != "" {
		loc = strNode(ev.scope.Location)
	}
	return object("id", "/subscriptions/"+sub+"/resourceGroups/"+rg, "name", rg,
		"type", "Microsoft.Resources/resourceGroups", "location", loc,
		"properties", object("provisioningState", "Succeeded")), nil
}

// tenantFn is tenant(): {countryCode, displayName, id, tenantId}
// (template-functions-scope#tenant); only the ids follow from the scope.
func (ev *evaluator) tenantFn() (*node, error) {
	t, err := ev.scoped("the tenant", ev.scope.TenantID)
	if err != nil {
		return nil, err
	}
	return object("countryCode", unknownNode("the tenant's countryCode"), "displayName", unknownNode("the tenant's displayName"),
		"id", "/tenants/"+t, "tenantId", t), nil
}

// managementGroupFn is managementGroup([name]): at management-group scope
// the current group, or a named one (template-functions-scope#managementgroup):
// {id, name, type, properties}; the properties are the live group's.
func managementGroupFn(ev *evaluator, a []*node, _ int) (*node, error) {
	name := ev.scope.ManagementGroup
	if len(a) == 1 {
		s, err := wantString(a, 0)
		if err != nil {
			return nil, err
		}
		name = s
	} else if name == "" {
		return nil, fmt.Errorf("managementGroup() without a name is only available in a deployment at management group scope, and this one is not")
	}
	ev.scopeUsed = true
	return object("id", "/providers/Microsoft.Management/managementGroups/"+name, "name", name,
		"type", "Microsoft.Management/managementGroups",
		"properties", unknownNode("the management group's properties")), nil
}

// deploymentFn is deployment(): {name, properties: {templateLink?,
// template, templateHash, parameters, mode, provisioningState}}
// (template-functions-deployment#deployment): the template as submitted,
// the parameter values given, mode Incremental and state Accepted while
// the deployment's expressions are evaluated; templateHash is ARM's own.
func (ev *evaluator) deploymentFn() *node {
	name := ev.scope.DeploymentName
	if name == "" {
		name = "goldenpipe"
	}
	params := &node{Kind: '{'}
	if ev.decls != nil && ev.decls.Kind == '{' {
		for _, m := range ev.decls.Members {
			if v, ok := ev.given[strings.ToLower(m.Key)]; ok && v != nil {
				params.Members = append(params.Members, member{Key: m.Key, Val: object("value", v)})
			}
		}
	}
	props := object("template", ev.root, "templateHash", unknownNode("the deployment's templateHash"),
		"parameters", params, "mode", "Incremental", "provisioningState", "Accepted")
	d := object("name", name, "properties", props)
	// "When deploying to an Azure subscription, management group, or
	// tenant, the return object includes a location property" (the page).
	if schema := ev.root.GetFold("$schema"); schema != nil && schema.Kind == '"' && !strings.Contains(schema.Str, "/deploymentTemplate.json") {
		loc := unknownNode("the deployment's location")
		if ev.scope.Location != "" {
			loc = strNode(ev.scope.Location)
		}
		d.Members = append(d.Members, member{Key: "location", Val: loc})
	}
	return d
}

// environmentFn is environment(): the cloud's endpoints
// (template-functions-deployment#environment). The public cloud's values
// are the page's; the sovereign clouds' are those of ARM's metadata
// endpoint (https://management.<cloud>/metadata/endpoints?api-version=2019-05-01,
// as `az cloud show` prints them), written here from that and not checked
// against a live endpoint.
func (ev *evaluator) environmentFn() (*node, error) {
	switch strings.ToLower(ev.scope.Cloud) {
	case "", "azurecloud":
		return cloudEnvironment("AzureCloud", "https://gallery.azure.com/", "https://graph.windows.net/", "https://portal.azure.com",
			"https://datalake.azure.net/", "https://batch.core.windows.net/", "https://rest.media.azure.net",
			"https://management.core.windows.net:8443/", "https://management.azure.com/", "https://login.microsoftonline.com/",
			[]string{"https://management.core.windows.net/", "https://management.azure.com/"},
			".azurecr.io", "azuredatalakeanalytics.net", "azuredatalakestore.net", "azurefd.net", ".vault.azure.net", ".database.windows.net", "core.windows.net"), nil
	case "azurechinacloud":
		return cloudEnvironment("AzureChinaCloud", "https://gallery.chinacloudapi.cn/", "https://graph.chinacloudapi.cn/", "https://portal.azure.cn",
			"", "https://batch.chinacloudapi.cn/", "https://rest.media.chinacloudapi.cn",
			"https://management.core.chinacloudapi.cn:8443/", "https://management.chinacloudapi.cn/", "https://login.chinacloudapi.cn/",
			[]string{"https://management.core.chinacloudapi.cn/", "https://management.chinacloudapi.cn/"},
			".azurecr.cn", "", "", "azurefd.cn", ".vault.azure.cn", ".database.chinacloudapi.cn", "core.chinacloudapi.cn"), nil
	case "azureusgovernment":
		return cloudEnvironment("AzureUSGovernment", "https://gallery.usgovcloudapi.net/", "https://graph.windows.net/", "https://portal.azure.us",
			"", "https://batch.core.usgovcloudapi.net/", "https://rest.media.usgovcloudapi.net",
			"https://management.core.usgovcloudapi.net:8443/", "https://management.usgovcloudapi.net/", "https://login.microsoftonline.us/",
			[]string{"https://management.core.usgovcloudapi.net/", "https://management.usgovcloudapi.net/"},
			".azurecr.us", "", "", "azurefd.us", ".vault.usgovcloudapi.net", ".database.usgovcloudapi.net", "core.usgovcloudapi.net"), nil
	}
	return nil, fmt.Errorf("the cloud %q is not one this app knows (AzureCloud, AzureChinaCloud, AzureUSGovernment)", ev.scope.Cloud)
}

func cloudEnvironment(name, gallery, graph, portal, dataLake, batch, media, sqlMgmt, rm, login string, audiences []string,
	acr, dlaCatalog, dlsFS, frontDoor, keyVault, sqlHost, storage string) *node {
	return object("name", name, "gallery", gallery, "graph", graph, "portal", portal, "graphAudience", graph,
		"activeDirectoryDataLake", dataLake, "batch", batch, "media", media, "sqlManagement", sqlMgmt,
		"vmImageAliasDoc", "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/master/arm-compute/quickstart-templates/aliases.json",
		"resourceManager", rm,
		"authentication", object("loginEndpoint", login, "audiences", audiences, "tenant", "common", "identityProvider", "AAD"),
		"suffixes", object("acrLoginServer", acr, "azureDatalakeAnalyticsCatalogAndJob", dlaCatalog, "azureDatalakeStoreFileSystem", dlsFS,
			"azureFrontDoorEndpointSuffix", frontDoor, "keyvaultDns", keyVault, "sqlServerHostname", sqlHost, "storage", storage))
}
