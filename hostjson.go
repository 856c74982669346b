package goldenpipe

import _ "embed"

// HostJSON is the function app's host.json, as deployed: local runs read
// the host's limits from it (the in-process bus's maxConcurrentCalls, lock
// renewal and functionTimeout), so they behave as one host instance.
//
//go:embed host.json
var HostJSON []byte
