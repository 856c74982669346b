package handlers

import "github.com/goldenpipe/goldenpipe/host"

// templateUploaded handles Event Grid blob events of the templates
// container: the domain reads, validates, renders and records the template.
func templateUploaded(svc BlobEvents) host.Func { return onBlobEvent(svc, "template event handled") }
