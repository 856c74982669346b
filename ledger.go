package goldenpipe

// Ledger is the builds' admission ledger: the builds holding the build
// slots, and each holder's template (its lane), so a request's admission
// pass knows the lanes without reading the holders (Lanes is absent from
// ledgers written before it: those holders' records are read).
type Ledger struct {
	Holders []string          `json:"holders"`
	Lanes   map[string]string `json:"lanes,omitempty"`
}
