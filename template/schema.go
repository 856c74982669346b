package template

// The shape of an image template in API 2024-02-01, with the names earlier
// API versions and the documentation used for the same things. Keys are
// matched without regard to case (templates written before May 2024 were
// accepted with any casing); the canonical name is written out.

type kind int

const (
	kString kind = iota
	kBool
	kInt
	kStrings    // array of strings; a single string is wrapped
	kInts       // array of integers; a single integer is wrapped
	kStringMap  // object of string values (tags)
	kObject     // nested object
	kObjects    // array of objects
	kIdentities // userAssignedIdentities: object of objects, keys are resource ids
	kDropped    // accepted for old templates, removed on upgrade with a note
)

type field struct {
	kind kind
	obj  *object // kObject, kObjects
	// note explains a dropped field, or an error when err is set
	note string
	err  bool
	// readOnly fields are set by the service and removed on upgrade
	readOnly bool
	// text fields hold free text (commands, filters): a "<…>" inside them
	// is not taken for a documentation placeholder
	text bool
}

type object struct {
	fields map[string]*field // canonical name → field
	// renamed maps a lowercased old name to the canonical one
	renamed map[string]string
	// byType: polymorphic objects, keyed by canonical "type"
	byType map[string]*object
	// typeAliases maps a lowercased type value to its canonical spelling
	typeAliases map[string]string
	// removedTypes maps a lowercased type value to an error message
	removedTypes map[string]string
}

func fields(kv ...any) map[string]*field {
	m := map[string]*field{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(*field)
	}
	return m
}

func f(k kind) *field             { return &field{kind: k} }
func text(k kind) *field          { return &field{kind: k, text: true} }
func fo(k kind, o *object) *field { return &field{kind: k, obj: o} }

var (
	purchasePlan = &object{fields: fields("planName", f(kString), "planProduct", f(kString), "planPublisher", f(kString))}

	sourceSchema = &object{
		byType: map[string]*object{
			"PlatformImage": {fields: fields("type", f(kString), "publisher", f(kString), "offer", f(kString), "sku", f(kString),
				"version", f(kString), "planInfo", fo(kObject, purchasePlan), "exactVersion", &field{kind: kString, readOnly: true})},
			"ManagedImage": {fields: fields("type", f(kString), "imageId", f(kString))},
			"SharedImageVersion": {fields: fields("type", f(kString), "imageVersionId", f(kString),
				"exactVersion", &field{kind: kString, readOnly: true})},
		},
		typeAliases: map[string]string{"platformimage": "PlatformImage", "managedimage": "ManagedImage", "sharedimageversion": "SharedImageVersion"},
		removedTypes: map[string]string{"iso": "ISO sources are deprecated: templates with an ISO source were refused from 31 March 2020 and not processed from 30 April 2020; " +
			"use a PlatformImage source (Red Hat offers bring-your-own-subscription images)"},
	}

	scriptFields = func(extra ...any) map[string]*field {
		base := []any{"type", f(kString), "name", f(kString), "scriptUri", f(kString), "sha256Checksum", f(kString), "inline", text(kStrings)}
		return fields(append(base, extra...)...)
	}

	customizerSchema = &object{
		byType: map[string]*object{
			"Shell":      {fields: scriptFields()},
			"PowerShell": {fields: scriptFields("runElevated", f(kBool), "runAsSystem", f(kBool), "validExitCodes", f(kInts))},
			"File": {fields: fields("type", f(kString), "name", f(kString), "sourceUri", f(kString), "sha256Checksum", f(kString),
				"destination", f(kString))},
			"WindowsRestart": {fields: fields("type", f(kString), "name", f(kString), "restartCommand", text(kString),
				"restartCheckCommand", text(kString), "restartTimeout", f(kString))},
			"WindowsUpdate": {fields: fields("type", f(kString), "name", f(kString), "searchCriteria", text(kString),
				"filters", text(kStrings), "updateLimit", f(kInt))},
		},
		typeAliases: map[string]string{"shell": "Shell", "powershell": "PowerShell", "file": "File",
			"windowsrestart": "WindowsRestart", "windowsupdate": "WindowsUpdate"},
	}

	validatorSchema = &object{
		byType: map[string]*object{
			"Shell":      {fields: scriptFields()},
			"PowerShell": {fields: scriptFields("runElevated", f(kBool), "runAsSystem", f(kBool), "validExitCodes", f(kInts))},
			"File": {fields: fields("type", f(kString), "name", f(kString), "sourceUri", f(kString), "sha256Checksum", f(kString),
				"destination", f(kString))},
		},
		typeAliases: map[string]string{"shell": "Shell", "powershell": "PowerShell", "file": "File"},
	}

	targetRegion = &object{fields: fields("name", f(kString), "replicaCount", f(kInt), "storageAccountType", f(kString))}
	versioning   = &object{fields: fields("scheme", f(kString), "major", f(kInt))}

	distributeSchema = &object{
		byType: map[string]*object{
			"ManagedImage": {fields: fields("type", f(kString), "imageId", f(kString), "location", f(kString),
				"runOutputName", f(kString), "artifactTags", f(kStringMap))},
			"SharedImage": {fields: fields("type", f(kString), "galleryImageId", f(kString), "runOutputName", f(kString),
				"artifactTags", f(kStringMap), "replicationRegions", f(kStrings), "targetRegions", fo(kObjects, targetRegion),
				"excludeFromLatest", f(kBool), "storageAccountType", f(kString), "versioning", fo(kObject, versioning))},
			"VHD": {fields: fields("type", f(kString), "runOutputName", f(kString), "artifactTags", f(kStringMap), "uri", f(kString)),
				renamed: map[string]string{"tags": "artifactTags"}},
		},
		typeAliases: map[string]string{"managedimage": "ManagedImage", "sharedimage": "SharedImage", "vhd": "VHD"},
	}

	vnetSchema = &object{
		fields: fields("subnetId", f(kString), "containerInstanceSubnetId", f(kString), "proxyVmSize", f(kString),
			"name", &field{kind: kString, err: true, note: "was replaced by subnetId (the subnet's resource id) in API 2020-02-14"},
			"subnetName", &field{kind: kString, err: true, note: "was replaced by subnetId (the subnet's resource id) in API 2020-02-14"},
			"resourceGroupName", &field{kind: kString, err: true, note: "was replaced by subnetId (the subnet's resource id) in API 2020-02-14"}),
	}

	propertiesSchema = &object{fields: fields(
		"buildTimeoutInMinutes", f(kInt),
		"vmProfile", fo(kObject, &object{fields: fields("vmSize", f(kString), "osDiskSizeGB", f(kInt),
			"userAssignedIdentities", f(kStrings), "vnetConfig", fo(kObject, vnetSchema))}),
		"source", fo(kObject, sourceSchema),
		"customize", fo(kObjects, customizerSchema),
		"distribute", fo(kObjects, distributeSchema),
		"validate", fo(kObject, &object{fields: fields("continueDistributeOnFailure", f(kBool), "sourceValidationOnly", f(kBool),
			"inVMValidations", fo(kObjects, validatorSchema))}),
		"optimize", fo(kObject, &object{fields: fields("vmBoot", fo(kObject, &object{fields: fields("state", f(kString))}))}),
		"errorHandling", fo(kObject, &object{fields: fields("onCustomizerError", f(kString), "onValidationError", f(kString))}),
		"stagingResourceGroup", f(kString),
		"autoRun", fo(kObject, &object{fields: fields("state", f(kString))}),
		"managedResourceTags", f(kStringMap),
		"provisioningState", &field{kind: kString, readOnly: true},
		"provisioningError", &field{kind: kObject, readOnly: true},
		"lastRunStatus", &field{kind: kObject, readOnly: true},
		"exactStagingResourceGroup", &field{kind: kString, readOnly: true},
	)}

	policySchema = &object{fields: fields("pinnedChecksums", f(kStrings), "rebuild", f(kString), "ignore", f(kStrings),
		"hostPool", f(kString), "stage", f(kString), "recustomize", f(kBool), "keepVersions", f(kInt),
		"versionPolicy", f(kString), "unfinishedVersions", f(kString))}

	rootSchema = &object{fields: fields(
		"type", f(kString), "apiVersion", f(kString), "name", f(kString), "location", f(kString),
		"tags", f(kStringMap),
		"identity", fo(kObject, &object{fields: fields("type", f(kString), "userAssignedIdentities", f(kIdentities))}),
		"dependsOn", &field{kind: kDropped, note: "dependsOn belongs to ARM deployment templates, not to the image template resource; removed"},
		"comments", &field{kind: kDropped, note: "the ARM comments element is for people; removed"},
		"properties", fo(kObject, propertiesSchema),
		"goldenpipe", fo(kObject, policySchema),
		"id", &field{kind: kString, readOnly: true},
		"systemData", &field{kind: kObject, readOnly: true},
	)}
)
