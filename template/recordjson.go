package template

import "encoding/json"

// MarshalJSON writes a record with its lists as lists: a valid template's
// "problems" (and a template's "warnings" and "upgradeNotes" when it has
// none) are [] in every JSON answer and record, never null, so a client
// can iterate them without a null check.
func (r Record) MarshalJSON() ([]byte, error) {
	type plain Record // without this method
	p := plain(r)
	if p.Problems == nil {
		p.Problems = []Problem{}
	}
	if p.Warnings == nil {
		p.Warnings = []Problem{}
	}
	if p.Notes == nil {
		p.Notes = []string{}
	}
	return json.Marshal(p)
}
