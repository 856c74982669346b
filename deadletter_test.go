package goldenpipe

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every Event Grid subscription deploy/main.bicep makes has a dead-letter
// destination: without one, Event Grid drops an event once its retry
// policy is spent (24 h here); with one it is kept as a blob. The system
// topic dead-letters with its own identity, which is given the right to
// write blobs (deadLetterWithResourceIdentity, Microsoft.EventGrid
// systemTopics/eventSubscriptions).
func TestEveryEventSubscriptionDeadLetters(t *testing.T) {
	raw, err := os.ReadFile("deploy/main.bicep")
	if err != nil {
		t.Fatal(err)
	}
	bicep := string(raw)
	starts := regexp.MustCompile(`(?m)^resource \w+ '(Microsoft\.EventGrid/[^']*eventSubscriptions)@[^']+'`).FindAllStringIndex(bicep, -1)
	if len(starts) == 0 {
		t.Fatal("no Event Grid subscription in deploy/main.bicep")
	}
	for _, s := range starts {
		rest := bicep[s[0]:]
		end := strings.Index(rest[1:], "\nresource ")
		if end < 0 {
			end = len(rest) - 1
		}
		block := rest[:end+1]
		if !strings.Contains(block, "deadLetterWithResourceIdentity") || !strings.Contains(block, "endpointType: 'StorageBlob'") || !strings.Contains(block, "blobContainerName:") {
			t.Errorf("an event subscription without a dead-letter destination:\n%s", block)
		}
	}
	if !strings.Contains(bicep, "identity: { type: 'SystemAssigned' }") || !regexp.MustCompile(`principalId: blobEvents\.identity\.principalId`).MatchString(bicep) {
		t.Error("the system topic has no identity allowed to write dead letters")
	}
}
