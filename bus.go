package goldenpipe

// OutMessage is a message the app sends to a Service Bus queue or topic
// (through the services' Bus port: a build request to the build queue, a
// lifecycle event to the events topic).
type OutMessage struct {
	ID            string // MessageId: derived from content, so duplicate detection helps
	Body          []byte
	ContentType   string
	CorrelationID string
	Subject       string
}
