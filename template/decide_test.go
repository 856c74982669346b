package template

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	aib "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/virtualmachineimagebuilder/armvirtualmachineimagebuilder/v2"

	"github.com/goldenpipe/goldenpipe"
)

var decideNow = time.Date(2024, 12, 10, 2, 0, 0, 0, time.UTC)

var decideConfig = catalogConfig{ScriptsURL: testScriptsURL, Deployment: corpusDeployment}

func seedText(t *testing.T, name string) string {
	t.Helper()
	return mustRead(t, filepath.Join("testdata", "seed", name+".json"))
}

// fullyObserved is a new template file as the shell observes it, with every
// look-up it asks for (the test scripts, the Ubuntu image's newest version).
func fullyObserved(blob, text, etag string) observation {
	o := observation{Blob: blob, URL: "https://t/templates/" + blob, Now: decideNow, Announce: true,
		Template: BlobState{Version: goldenpipe.BlobVersion{ETag: etag, Size: int64(len(text)), LastModified: decideNow.Add(-time.Hour)}, Text: text, Read: true},
		Params:   BlobState{Absent: true}, Records: map[string]stored{}, LinkedByRead: true,
		Checksums: map[string]checksumState{}, Latest: map[string]latestState{
			imageKey("westus2", "Canonical", "UbuntuServer", "18.04-LTS"):                         {Version: "18.04.202401161"},
			imageKey("westeurope", "Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2"): {Version: "22.04.202412010"},
		}}
	for name, sum := range testScripts {
		o.Checksums[name] = checksumState{C: goldenpipe.Checksum{Name: name, SHA256: sum}}
	}
	return o
}

// recordsOf is the records a decision writes, by name.
func recordsOf(d decision) map[string]Record {
	out := map[string]Record{}
	for _, w := range d.Writes {
		if rec, ok := w.Doc.(Record); ok && w.Kind == writePut {
			out[rec.Name] = rec
		}
	}
	return out
}

// writesOf names a decision's writes: "put templates/…" and so on, with
// the key's prefix and the condition.
func writesOf(d decision) []string {
	var out []string
	for _, w := range d.Writes {
		kind := map[writeKind]string{writePut: "put", writeOverwrite: "overwrite", writeDelete: "delete"}[w.Kind]
		prefix := w.Key[:strings.Index(w.Key, "/")+1]
		cond := ""
		if w.Kind != writeOverwrite {
			cond = " if " + w.IfMatch
			if w.IfMatch == "" {
				cond = " if new"
			}
		}
		out = append(out, kind+" "+prefix+cond)
	}
	return out
}

// withRecord is o with the record d decided for name stored under etag.
func withRecord(t *testing.T, o observation, name, etag string) observation {
	t.Helper()
	d := decide(decideConfig, o)
	rec, ok := recordsOf(d)[name]
	if !ok {
		t.Fatalf("no record %q decided: %+v", name, d)
	}
	o.Records = map[string]stored{name: {rec, etag}}
	return o
}

// TestDecide: the catalog's decision for one template file, from what was
// observed, with no store.
// decideCase is one decision of the catalog, from what was observed, with
// no store: what it writes, whom it notifies, or what it needs.
type decideCase struct {
	name    string
	obs     func() observation
	outcome OutcomeKind
	text    string // in the outcome's text
	writes  []string
	notify  []string
	need    func(need) bool
	check   func(t *testing.T, d decision)
	settled int
}

// runDecide decides each case, with a new template file (newFile) and the
// same file once its record is stored (stored1) to start from.
func runDecide(t *testing.T, cases func(newFile, stored1 observation) []decideCase) {
	t.Helper()
	newFile := fullyObserved("ubuntu.json", seedText(t, "ubuntu-shell"), "e1")
	stored1 := withRecord(t, newFile, "ubuntu", "r1")
	tests := cases(newFile, stored1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decide(decideConfig, tt.obs())
			if tt.need != nil {
				if d.Need.empty() || !tt.need(d.Need) || len(d.Writes) != 0 {
					t.Fatalf("need %+v, %d writes", d.Need, len(d.Writes))
				}
				return
			}
			if !d.Need.empty() || d.Err != nil {
				t.Fatalf("need %+v, err %v", d.Need, d.Err)
			}
			if d.Outcome.Kind != tt.outcome || !strings.Contains(d.Outcome.String(), tt.text) {
				t.Errorf("outcome %v %q, want %v with %q", d.Outcome.Kind, d.Outcome, tt.outcome, tt.text)
			}
			if got := writesOf(d); !slices.Equal(got, tt.writes) {
				t.Errorf("writes:\n%q\nwant\n%q", got, tt.writes)
			}
			if !slices.Equal(d.Notify, tt.notify) {
				t.Errorf("notify %v, want %v", d.Notify, tt.notify)
			}
			if len(d.Settled) != tt.settled {
				t.Errorf("%d settled, want %d", len(d.Settled), tt.settled)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

// TestDecideDeleted: a blob that is no template, or is gone.
func TestDecideDeleted(t *testing.T) {
	runDecide(t, func(newFile, stored1 observation) []decideCase {
		return []decideCase{
			{name: "not a template blob", obs: func() observation { return observation{Blob: "notes.txt"} },
				outcome: OutcomeIgnored, text: `ignored: template blob "notes.txt" does not end in .json`},
			{name: "no blob, no record", obs: func() observation {
				return observation{Blob: "gone.json", Template: BlobState{Absent: true}}
			}, outcome: OutcomeAbsent, text: "nothing to do"},
			{name: "blob deleted: the record to history, then deleted with its ETag", obs: func() observation {
				o := stored1
				o.Template = BlobState{Absent: true}
				return o
			}, outcome: OutcomeDeleted, text: "record removed (kept in history)",
				writes: []string{"overwrite templates-history/", "delete templates/ if r1"}},
			{name: "blob deleted with its file index and linked blobs", obs: func() observation {
				o := stored1
				rec := o.Records["ubuntu"].rec
				rec.Linked = []LinkedBlob{{Blob: "linked/a.json", ETag: "l1"}}
				o.Records = map[string]stored{"ubuntu": {rec, "r1"}}
				o.Template, o.Index, o.IndexETag = BlobState{Absent: true}, fileIndex{Blob: "ubuntu.json", Names: []string{"ubuntu"}}, "i1"
				return o
			}, outcome: OutcomeDeleted,
				writes: []string{"overwrite templates-history/", "delete templates/ if r1", "delete template-files/ if i1"},
				check: func(t *testing.T, d decision) {
					if !d.LinksWas["linked/a.json"] || len(d.LinksNow) != 0 {
						t.Errorf("links: was %v now %v", d.LinksWas, d.LinksNow)
					}
				}},
		}
	})
}

// TestDecideNeeds: what a decision lacks is named, and nothing is written.
func TestDecideNeeds(t *testing.T) {
	runDecide(t, func(newFile, stored1 observation) []decideCase {
		return []decideCase{
			{name: "a new blob not read yet: its source is needed", obs: func() observation {
				o := newFile
				o.Template.Text, o.Template.Read = "", false
				return o
			}, need: func(n need) bool { return n.Source && len(n.Scripts) == 0 }},
			{name: "a new blob whose parameters file is not read yet", obs: func() observation {
				o := newFile
				o.Params = BlobState{Version: goldenpipe.BlobVersion{ETag: "p1", Size: 2}}
				return o
			}, need: func(n need) bool { return n.Source }},
			{name: "scripts and images not looked up: all named in one pass", obs: func() observation {
				o := newFile
				o.Checksums, o.Latest = nil, nil
				return o
			}, need: func(n need) bool {
				return slices.Equal(n.Scripts, []string{"linux/hardening.sh", "linux/index.html"}) &&
					len(n.Images) == 1 && n.Images[0] == imageRef{"westus2", "Canonical", "UbuntuServer", "18.04-LTS"}
			}},
			{name: "the reverse link index not read", obs: func() observation {
				o := newFile
				o.LinkedByRead = false
				return o
			}, need: func(n need) bool { return n.LinkedBy && !n.Source }},
		}
	})
}

// TestDecideRenders: a template rendered, written only when it changed.
func TestDecideRenders(t *testing.T) {
	runDecide(t, func(newFile, stored1 observation) []decideCase {
		return []decideCase{
			{name: "a new template: the pending entry, then the record, created", obs: func() observation { return newFile },
				outcome: OutcomeRendered, text: `template "ubuntu" rendered: fingerprint`,
				writes: []string{"overwrite template-pending/", "put templates/ if new"}, notify: []string{"ubuntu"}, settled: 1,
				check: func(t *testing.T, d decision) {
					rec := recordsOf(d)["ubuntu"]
					if !rec.Valid || rec.Rendered.SourceVersion != "18.04.202401161" || rec.Pending == nil || !rec.Pending.Since.Equal(decideNow) ||
						rec.Rendered.Scripts["linux/hardening.sh"] != testScripts["linux/hardening.sh"] || !rec.ProcessedAt.Equal(decideNow) {
						t.Errorf("record: %+v", rec)
					}
					if e, ok := d.Writes[0].Doc.(pendingEntry); !ok || e.Name != "ubuntu" || e.Fingerprint != rec.Rendered.Fingerprint {
						t.Errorf("pending entry: %+v", d.Writes[0].Doc)
					}
				}},
			{name: "a refresh (no announcement): no pending request", obs: func() observation {
				o := newFile
				o.Announce = false
				return o
			}, outcome: OutcomeRendered, writes: []string{"put templates/ if new"}, notify: []string{"ubuntu"}, settled: 1},
			{name: "the same version again: nothing written", obs: func() observation { return stored1 },
				outcome: OutcomeUnchanged, text: "version e1 already processed; sending the build request of ubuntu, not sent before",
				notify: []string{"ubuntu"}},
			{name: "the same version, its request sent", obs: func() observation {
				o := stored1
				rec := o.Records["ubuntu"].rec
				rec.Pending = nil
				o.Records = map[string]stored{"ubuntu": {rec, "r1"}}
				return o
			}, outcome: OutcomeUnchanged, text: "version e1 already processed"},
			{name: "rendered again to the same record: settled, not written", obs: func() observation {
				o := stored1
				o.Render, o.Template.Text, o.Template.Read = true, "", false // the stored source is rendered
				o.Now = decideNow.Add(time.Hour)
				return o
			}, outcome: OutcomeRendered, notify: []string{"ubuntu"}, settled: 1},
			{name: "a stale record is rendered again, from its source", obs: func() observation {
				o := stored1
				rec := o.Records["ubuntu"].rec
				rec.Stale, rec.StaleReason = true, "script changed"
				o.Records = map[string]stored{"ubuntu": {rec, "r1"}}
				o.Template.Text, o.Template.Read = "", false
				return o
			}, outcome: OutcomeRendered, writes: []string{"overwrite template-pending/", "put templates/ if r1"}, notify: []string{"ubuntu"}, settled: 1,
				check: func(t *testing.T, d decision) {
					if rec := recordsOf(d)["ubuntu"]; rec.Stale || rec.Source == "" {
						t.Errorf("record: stale %v, source %d bytes", rec.Stale, len(rec.Source))
					}
				}},
			{name: "a new platform image version: written over its ETag, the request kept", obs: func() observation {
				o := stored1
				o.Render = true
				o.Latest = map[string]latestState{imageKey("westus2", "Canonical", "UbuntuServer", "18.04-LTS"): {Version: "18.04.202501010"}}
				return o
			}, outcome: OutcomeRendered, writes: []string{"overwrite template-pending/", "put templates/ if r1"}, notify: []string{"ubuntu"}, settled: 1,
				check: func(t *testing.T, d decision) {
					rec := recordsOf(d)["ubuntu"]
					if rec.Rendered.SourceVersion != "18.04.202501010" || rec.Pending == nil || rec.Pending.Fingerprint != rec.Rendered.Fingerprint {
						t.Errorf("record: %+v", rec)
					}
				}},
			{name: "the image is not in the marketplace: a problem", obs: func() observation {
				o := newFile
				o.Latest = map[string]latestState{imageKey("westus2", "Canonical", "UbuntuServer", "18.04-LTS"): {NotFound: goldenpipe.Errorf(goldenpipe.ENOTFOUND, "not found")}}
				return o
			}, outcome: OutcomeRendered, text: `template "ubuntu" is invalid: 1 problem(s)`, writes: []string{"put templates/ if new"}, notify: []string{"ubuntu"}, settled: 1,
				check: func(t *testing.T, d decision) {
					if rec := recordsOf(d)["ubuntu"]; rec.Valid || !strings.Contains(rec.Problems[0].Message, "is not in the marketplace of westus2") {
						t.Errorf("record: %+v", rec.Problems)
					}
				}},
			{name: "a script that does not exist: a problem", obs: func() observation {
				o := newFile
				o.Checksums = map[string]checksumState{"linux/hardening.sh": {Missing: true}, "linux/index.html": {C: goldenpipe.Checksum{SHA256: testScripts["linux/index.html"]}}}
				return o
			}, outcome: OutcomeRendered, writes: []string{"put templates/ if new"}, notify: []string{"ubuntu"}, settled: 1,
				check: func(t *testing.T, d decision) {
					rec := recordsOf(d)["ubuntu"]
					if rec.Valid || !strings.Contains(problemText(rec.Problems), `script "linux/hardening.sh" does not exist`) ||
						!slices.Equal(rec.Scripts, []string{"linux/hardening.sh", "linux/index.html"}) {
						t.Errorf("record: %+v %v", rec.Problems, rec.Scripts)
					}
				}},
			{name: "a blob over the limit: a problem, not read", obs: func() observation {
				o := newFile
				o.Template = BlobState{Version: goldenpipe.BlobVersion{ETag: "big", Size: MaxTemplateBytes + 1}}
				return o
			}, outcome: OutcomeRendered, text: `template "ubuntu" is invalid: 1 problem(s)`, writes: []string{"put templates/ if new"}, notify: []string{"ubuntu"}, settled: 1},
		}
	})
}

// TestDecideFiles: a file of several templates, and its index.
func TestDecideFiles(t *testing.T) {
	runDecide(t, func(newFile, stored1 observation) []decideCase {
		return []decideCase{
			{name: "a file of two templates: both written, and the file's index", obs: func() observation {
				return fullyObserved("jammy.json", string(inDeployment(t, linuxBase, `{"name": "[format('jammy-{0}', parameters('stages')[copyIndex()])]",
			  "copy": {"name": "stages", "count": "[length(parameters('stages'))]"}}`,
					`{"stages": {"type": "array", "defaultValue": ["test", "prod"]}}`)), "e2")
			}, outcome: OutcomeRendered,
				writes: []string{"overwrite template-pending/", "put templates/ if new", "overwrite template-pending/", "put templates/ if new", "put template-files/ if new"},
				notify: []string{"jammy.jammy-test", "jammy.jammy-prod"}, settled: 2},
			{name: "a file of two templates back to one: the others removed, the index deleted", obs: func() observation {
				o := newFile
				o.Records = map[string]stored{"ubuntu.a": {Record{Name: "ubuntu.a", ETag: "e0"}, "ra"}, "ubuntu.b": {Record{Name: "ubuntu.b", ETag: "e0"}, "rb"}}
				o.Index, o.IndexETag = fileIndex{Blob: "ubuntu.json", Names: []string{"ubuntu.a", "ubuntu.b"}}, "i1"
				return o
			}, outcome: OutcomeRendered,
				writes: []string{"overwrite template-pending/", "put templates/ if new", "overwrite templates-history/", "delete templates/ if ra",
					"overwrite templates-history/", "delete templates/ if rb", "delete template-files/ if i1"},
				notify: []string{"ubuntu"}, settled: 1},
		}
	})
}

// linking is o whose record "ubuntu" read the linked blobs (linked/a.json
// at l1, the others absent), with the linked blobs observed.
func linking(o observation, observed map[string]BlobState, blobs ...string) observation {
	rec := o.Records["ubuntu"].rec
	rec.Linked = nil
	for _, b := range blobs {
		lb := LinkedBlob{Blob: b}
		if b == "linked/a.json" {
			lb.ETag = "l1"
		}
		rec.Linked = append(rec.Linked, lb)
	}
	o.Records = map[string]stored{"ubuntu": {rec, "r1"}}
	o.Linked = observed
	return o
}

// unread is o before the template file was read.
func unread(o observation) observation {
	o.Template.Read, o.Template.Text = false, ""
	return o
}

// TestDecideLinksCurrent: the linked blobs a record read decide whether it is current.
func TestDecideLinksCurrent(t *testing.T) {
	runDecide(t, func(newFile, stored1 observation) []decideCase {
		return []decideCase{
			{name: "linked blobs whose versions are not known: needed", obs: func() observation {
				return linking(stored1, nil, "linked/a.json", "linked/b.json")
			}, need: func(n need) bool { return slices.Equal(n.LinkVersions, []string{"linked/a.json", "linked/b.json"}) }},
			{name: "linked blobs as read: unchanged", obs: func() observation {
				o := linking(stored1, map[string]BlobState{"linked/a.json": {Version: goldenpipe.BlobVersion{ETag: "l1"}}, "linked/b.json": {Absent: true}},
					"linked/a.json", "linked/b.json")
				rec := o.Records["ubuntu"].rec
				rec.Pending = nil
				o.Records = map[string]stored{"ubuntu": {rec, "r1"}}
				return o
			}, outcome: OutcomeUnchanged},
			{name: "a linked blob changed: the file is read again", obs: func() observation {
				return unread(linking(stored1, map[string]BlobState{"linked/a.json": {Version: goldenpipe.BlobVersion{ETag: "l2"}}}, "linked/a.json"))
			}, need: func(n need) bool { return n.Source }},
			{name: "a linked blob deleted: the file is read again", obs: func() observation {
				return unread(linking(stored1, map[string]BlobState{"linked/a.json": {Absent: true}}, "linked/a.json"))
			}, need: func(n need) bool { return n.Source }},
		}
	})
}

func problemText(ps []Problem) string { return strings.Join(problemStrings(ps), "\n") }

// TestDecideLinked: a deployment template that links another by
// templateLink.relativePath names it, is rendered with it once read, and
// records it (with its version) for the reverse index; a linked blob that
// does not exist is recorded with no version, one over the limit as read.
func TestDecideLinked(t *testing.T) {
	main := mustRead(t, filepath.Join("testdata", "shapes", "linked-image-template.json"))
	params := mustRead(t, filepath.Join("testdata", "shapes", "linked-image-template.parameters.json"))
	linked := mustRead(t, filepath.Join("testdata", "shapes", "linked", "aib-image.json"))
	o := fullyObserved("main.json", main, "m1")
	o.Params = BlobState{Version: goldenpipe.BlobVersion{ETag: "p1", Size: int64(len(params))}, Text: params, Read: true}
	o.Checksums, o.Latest = nil, nil
	d := decide(decideConfig, o)
	if !slices.Equal(d.Need.LinkTexts, []string{"linked/aib-image.json"}) {
		t.Fatalf("need %+v", d.Need)
	}
	cases := []struct {
		name  string
		state BlobState
		valid bool
		etag  string
	}{
		{"read", BlobState{Version: goldenpipe.BlobVersion{ETag: "l1", Size: int64(len(linked))}, Text: linked, Read: true}, true, "l1"},
		{"absent", BlobState{Absent: true}, false, ""},
		{"over the limit", BlobState{Version: goldenpipe.BlobVersion{ETag: "l2", Size: MaxTemplateBytes + 1}, Read: true}, false, "l2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := o
			o.Linked = map[string]BlobState{"linked/aib-image.json": c.state}
			d := decide(decideConfig, o)
			for round := 0; !d.Need.empty() && round < 3; round++ { // the scripts and the image, as the shell would
				o.Checksums = map[string]checksumState{}
				for _, s := range d.Need.Scripts {
					o.Checksums[s] = checksumState{C: goldenpipe.Checksum{SHA256: strings.Repeat("a", 64)}}
				}
				o.Latest = map[string]latestState{}
				for _, img := range d.Need.Images {
					o.Latest[imageKey(img.Location, img.Publisher, img.Offer, img.SKU)] = latestState{Version: "1.2.3"}
				}
				d = decide(decideConfig, o)
			}
			if !d.Need.empty() {
				t.Fatalf("still needs %+v", d.Need)
			}
			var recs []Record
			for _, r := range recordsOf(d) {
				recs = append(recs, r)
			}
			if len(recs) != 1 || recs[0].Valid != c.valid || len(recs[0].Linked) != 1 ||
				recs[0].Linked[0] != (LinkedBlob{Blob: "linked/aib-image.json", ETag: c.etag}) {
				t.Fatalf("records %+v", recs)
			}
			if !d.LinksNow["linked/aib-image.json"] || len(d.LinksWas) != 0 {
				t.Errorf("links: was %v now %v", d.LinksWas, d.LinksNow)
			}
		})
	}
}

// TestDecideLinkedFile: a file other templates link that is no template
// of its own is recorded as linked by them; the linked loader refuses
// a path outside the container.
func TestDecideLinkedFile(t *testing.T) {
	o := fullyObserved("linked/aib-image.json", mustRead(t, filepath.Join("testdata", "shapes", "linked", "aib-image.json")), "l1")
	o.LinkedBy = []string{"main.json"}
	d := decide(decideConfig, o)
	rec, ok := recordsOf(d)["linked/aib-image"]
	if !ok || rec.Kind != KindLinked || !slices.Equal(rec.LinkedBy, o.LinkedBy) || rec.Pending != nil {
		t.Fatalf("record %+v (need %+v)", rec, d.Need)
	}
	l := &observedLinks{dir: "linked"}
	for _, rel := range []string{"../x.json", "..", "/abs.json"} {
		if _, err := l.load(rel); err == nil || !strings.Contains(err.Error(), "outside the templates container") {
			t.Errorf("%s: %v", rel, err)
		}
	}
}

// TestOutcomeText: the outcome's words, as the handlers answer.
func TestOutcomeText(t *testing.T) {
	tests := []struct {
		o    Outcome
		want string
	}{
		{Outcome{Kind: OutcomeIgnored, Reason: "why"}, "ignored: why"},
		{Outcome{Kind: OutcomeAbsent}, "template blob does not exist and has no record; nothing to do"},
		{Outcome{Kind: OutcomeDeleted}, "template deleted; record removed (kept in history)"},
		{Outcome{Kind: OutcomeUnchanged, Version: "v"}, "version v already processed"},
		{Outcome{Kind: OutcomeUnchanged, Version: "v", Pending: []string{"a", "b"}}, "version v already processed; sending the build request of a, b, not sent before"},
		{Outcome{Kind: OutcomeRendered, Summaries: []string{"x", "y"}}, "x; y"},
		{Outcome{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.o.String(); got != tt.want {
				t.Errorf("%q, want %q", got, tt.want)
			}
		})
	}
}

// TestRenderParsedInternalError: a template the renderer cannot copy is
// an error of the decision (nothing written), not a problem of the user's.
func TestRenderParsedInternalError(t *testing.T) {
	rec := Record{Name: "x"}
	p := &Parsed{Name: "x", Kind: KindResource, Template: &aib.ImageTemplate{}, upgradedTo: []byte("{")}
	err := renderParsed(&Renderer{}, &rec, p)
	if goldenpipe.ErrorCode(err) != goldenpipe.EINTERNAL || !strings.Contains(err.Error(), `rendering template "x"`) {
		t.Fatalf("err = %v", err)
	}
}

// TestDecideReusesTheParse: a decision that lacks look-ups hands its parse
// to the next round, which renders it without parsing the texts again; a
// parse of other texts, or one that lacked a linked blob, is not reused.
func TestDecideReusesTheParse(t *testing.T) {
	full := fullyObserved("ubuntu.json", seedText(t, "ubuntu-shell"), "e1")
	o := full
	o.Checksums = nil
	d := decide(decideConfig, o)
	if d.Parse == nil || len(d.Parse.Parsed) != 1 || d.Parse.Text == "" {
		t.Fatalf("parse handed on: %+v", d.Parse)
	}
	// the handed-on parse is the one rendered: a problem put into it shows
	marked := *d.Parse
	marked.Parsed = []*Parsed{{Name: "ubuntu", Kind: KindResource, Problems: []Problem{{Path: "x", Message: "from the earlier round"}}}}
	next := full
	next.Parse = &marked
	if rec := recordsOf(decide(decideConfig, next))["ubuntu"]; rec.Valid || !strings.Contains(problemText(rec.Problems), "from the earlier round") {
		t.Errorf("the earlier parse was not used: %v", rec.Problems)
	}
	other := marked
	other.Text = "{}"
	next.Parse = &other
	if rec := recordsOf(decide(decideConfig, next))["ubuntu"]; !rec.Valid {
		t.Errorf("a parse of other texts was used: %v", rec.Problems)
	}
	// a parse that lacked a linked blob is not handed on
	main := fullyObserved("main.json", mustRead(t, filepath.Join("testdata", "shapes", "linked-image-template.json")), "m1")
	if d := decide(decideConfig, main); len(d.Need.LinkTexts) == 0 || d.Parse != nil {
		t.Errorf("need %+v, parse %v", d.Need, d.Parse)
	}
}
