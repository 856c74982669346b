package goldenpipe

import "time"

// Image Builder provisioning states (properties.provisioningState).
const (
	ProvisioningCreating  = "Creating"
	ProvisioningUpdating  = "Updating"
	ProvisioningSucceeded = "Succeeded"
	ProvisioningFailed    = "Failed"
	ProvisioningDeleting  = "Deleting"
	ProvisioningCanceled  = "Canceled"
)

// Image Builder run states (properties.lastRunStatus.runState).
const (
	RunRunning            = "Running"
	RunCanceling          = "Canceling"
	RunSucceeded          = "Succeeded"
	RunPartiallySucceeded = "PartiallySucceeded"
	RunFailed             = "Failed"
	RunCanceled           = "Canceled"
)

// AIBTemplate is what Image Builder reports about one image template.
type AIBTemplate struct {
	ID                string
	ProvisioningState string
	ProvisioningError string
	// StagingResourceGroup is where Image Builder keeps the build's VM,
	// logs and VHD (properties.exactStagingResourceGroup).
	StagingResourceGroup string
	// Run is nil until a run was started.
	Run *AIBRun
}

// AIBRun is properties.lastRunStatus.
type AIBRun struct {
	State     string // RunRunning ...
	SubState  string // Queued, Building, Customizing, Optimizing, Validating, Distributing
	Message   string
	StartTime time.Time
	EndTime   time.Time
}

// RunOutput is one distributor's result.
type RunOutput struct {
	Name        string `json:"name"`
	ArtifactID  string `json:"artifactId,omitempty"`  // managed image or gallery version
	ArtifactURI string `json:"artifactUri,omitempty"` // a VHD blob URL, never with a SAS
	State       string `json:"provisioningState,omitempty"`
}
