package simulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Groups simulates what the app's managed staging groups need of Azure
// Resource Manager: resource groups (PUT, DELETE), the principal ids of
// user-assigned identities (GET), and role assignments (PUT). The Image
// Builder simulator checks a template's stagingResourceGroup against it as
// Image Builder does: the group must exist, be used by no other template,
// and give the template's identity Contributor. Safe for concurrent use.
type Groups struct {
	mu      sync.Mutex
	groups  map[string]bool            // lower-case name → exists
	roles   map[string]map[string]bool // lower-case group → principal ids with Contributor
	created []string                   // every group ever created, in order
	deleted []string
}

// NewGroups returns an empty subscription.
func NewGroups() *Groups {
	return &Groups{groups: map[string]bool{}, roles: map[string]map[string]bool{}}
}

// PrincipalOf is the principal id the simulator gives an identity.
func PrincipalOf(identityID string) string {
	h := sha256.Sum256([]byte(strings.ToLower(identityID)))
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// Created and Deleted return the groups created and deleted so far.
func (g *Groups) Created() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.created...)
}

// Deleted returns the groups deleted so far.
func (g *Groups) Deleted() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.deleted...)
}

// usable reports whether a group exists and gives principal Contributor.
func (g *Groups) usable(name, principal string) (exists, contributor bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	key := strings.ToLower(name)
	return g.groups[key], g.roles[key][principal]
}

// Do serves the requests (policy.Transporter).
func (g *Groups) Do(req *http.Request) (*http.Response, error) {
	path := req.URL.Path
	low := strings.ToLower(path)
	answer := func(status int, v any) (*http.Response, error) {
		b, _ := json.Marshal(v)
		return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader(b)), Request: req}, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case strings.Contains(low, "/providers/microsoft.managedidentity/userassignedidentities/") && req.Method == http.MethodGet:
		return answer(http.StatusOK, map[string]any{"id": path, "properties": map[string]string{"principalId": PrincipalOf(path)}})
	case strings.Contains(low, "/providers/microsoft.authorization/roleassignments/") && req.Method == http.MethodPut:
		var body struct{ Properties struct{ PrincipalID string } }
		_ = json.NewDecoder(req.Body).Decode(&body)
		group := groupOf(low)
		if !g.groups[group] {
			return answer(http.StatusNotFound, map[string]any{"error": map[string]string{"code": "ResourceGroupNotFound", "message": "Resource group '" + group + "' could not be found."}})
		}
		if g.roles[group] == nil {
			g.roles[group] = map[string]bool{}
		}
		g.roles[group][body.Properties.PrincipalID] = true
		return answer(http.StatusCreated, map[string]any{"id": path})
	case strings.Contains(low, "/resourcegroups/") && !strings.Contains(low, "/providers/"):
		name := groupOf(low)
		switch req.Method {
		case http.MethodPut:
			if !g.groups[name] {
				g.created = append(g.created, name)
			}
			g.groups[name] = true
			return answer(http.StatusCreated, map[string]any{"id": path, "name": name})
		case http.MethodDelete:
			if !g.groups[name] {
				return answer(http.StatusNotFound, map[string]any{"error": map[string]string{"code": "ResourceGroupNotFound", "message": "not found"}})
			}
			delete(g.groups, name)
			delete(g.roles, name)
			g.deleted = append(g.deleted, name)
			return answer(http.StatusOK, map[string]any{})
		}
	}
	return answer(http.StatusNotFound, map[string]any{"error": map[string]string{"code": "NotFound", "message": "the simulator does not serve " + req.Method + " " + path}})
}

// groupOf is the resource group a lower-case path names.
func groupOf(low string) string {
	_, rest, _ := strings.Cut(low, "/resourcegroups/")
	name, _, _ := strings.Cut(rest, "/")
	return name
}
