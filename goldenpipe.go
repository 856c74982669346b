// Package goldenpipe holds the domain's nouns and the ports its services
// share, one file each: the trigger inputs (triggers.go), the messages the
// app sends (bus.go), the state store (documents.go), blobs (blob.go), the
// script checksum (checksum.go), practice findings (finding.go), Image
// Builder's reports (imagebuilder.go), the gallery (gallery.go), CloudEvents
// (cloudevents.go) and the errors (errors.go). It imports nothing from
// Azure, from the Functions host or from the app's other packages; adapters
// (azure, host, inmem) depend on it, never the other way round. Generic
// algorithms over the Documents port are in internal/docstore.
package goldenpipe
