package azure

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/goldenpipe/goldenpipe"
)

// contributorRole is the built-in Contributor role: what Image Builder's
// identity needs on a staging group given to it.
const contributorRole = "b24988ac-6180-42a0-ab88-20f7382dd24c"

// StagingGroups makes and removes the staging resource groups the app
// gives its Image Builder templates (AIB_STAGING_GROUPS=managed): one per
// image template, created empty in the template's region, with the
// template's identity as Contributor on it, deleted once the template is.
// Plain ARM REST calls (resource groups 2021-04-01, role assignments
// 2022-04-01, user-assigned identities 2023-01-31).
type StagingGroups struct {
	client       *arm.Client
	endpoint     string
	subscription string
}

// NewStagingGroups returns the staging groups of a subscription.
func NewStagingGroups(subscriptionID string, cred azcore.TokenCredential, opts *arm.ClientOptions) (*StagingGroups, error) {
	c, endpoint, err := armREST(cred, opts)
	if err != nil {
		return nil, err
	}
	return &StagingGroups{client: c, endpoint: endpoint, subscription: subscriptionID}, nil
}

// ID is a staging group's resource id.
func (g *StagingGroups) ID(name string) string {
	return "/subscriptions/" + g.subscription + "/resourceGroups/" + name
}

func (g *StagingGroups) call(ctx context.Context, method, path string, body any, out any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, armCallTimeout)
	defer cancel()
	req, err := runtime.NewRequest(ctx, method, g.endpoint+path)
	if err != nil {
		return 0, err
	}
	if body != nil {
		b, _ := json.Marshal(body)
		if err := req.SetBody(streamingNopCloser{bytes.NewReader(b)}, "application/json"); err != nil {
			return 0, err
		}
	}
	resp, err := g.client.Pipeline().Do(req)
	if err != nil {
		return 0, goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, redactedError{err}, "%s %s failed", method, path)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && !(method == http.MethodDelete && resp.StatusCode == http.StatusNotFound) {
		return resp.StatusCode, ARMError(runtime.NewResponseError(resp), "%s %s failed", method, strings.SplitN(path, "?", 2)[0])
	}
	if out != nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

type streamingNopCloser struct{ *bytes.Reader }

func (streamingNopCloser) Close() error { return nil }

// Ensure creates a staging group (empty, in location, tagged with the
// build) and makes identityID (a user-assigned identity's resource id)
// Contributor on it. Idempotent.
func (g *StagingGroups) Ensure(ctx context.Context, name, location, identityID, build string) error {
	path := "/subscriptions/" + url.PathEscape(g.subscription) + "/resourcegroups/" + url.PathEscape(name) + "?api-version=2021-04-01"
	if _, err := g.call(ctx, http.MethodPut, path, map[string]any{"location": location,
		"tags": map[string]string{"goldenpipe-build": build, "goldenpipe-purpose": "Image Builder staging group"}}, nil); err != nil {
		return err
	}
	var identity struct {
		Properties struct {
			PrincipalID string `json:"principalId"`
		} `json:"properties"`
	}
	if _, err := g.call(ctx, http.MethodGet, identityID+"?api-version=2023-01-31", nil, &identity); err != nil {
		return fmt.Errorf("reading the template's identity: %w", err)
	}
	if identity.Properties.PrincipalID == "" {
		return goldenpipe.Errorf(goldenpipe.EINVALID, "the identity %s has no principal id", identityID)
	}
	scope := g.ID(name)
	assignment := roleAssignmentName(scope, identity.Properties.PrincipalID)
	_, err := g.call(ctx, http.MethodPut, scope+"/providers/Microsoft.Authorization/roleAssignments/"+assignment+"?api-version=2022-04-01",
		map[string]any{"properties": map[string]string{
			"roleDefinitionId": "/subscriptions/" + g.subscription + "/providers/Microsoft.Authorization/roleDefinitions/" + contributorRole,
			"principalId":      identity.Properties.PrincipalID, "principalType": "ServicePrincipal"}}, nil)
	if goldenpipe.ErrorCode(err) == goldenpipe.ECONFLICT {
		return nil // RoleAssignmentExists
	}
	return err
}

// Delete removes a staging group (gone is not an error).
func (g *StagingGroups) Delete(ctx context.Context, name string) error {
	_, err := g.call(ctx, http.MethodDelete, "/subscriptions/"+url.PathEscape(g.subscription)+"/resourcegroups/"+url.PathEscape(name)+"?api-version=2021-04-01", nil, nil)
	return err
}

// roleAssignmentName is a role assignment's deterministic name (a GUID of
// the scope and the principal, as Bicep's guid() would make it).
func roleAssignmentName(scope, principal string) string {
	return armGUIDOf(scope, principal, contributorRole)
}

// armGUIDOf is a name-based (version 5) UUID of the parts joined with "-",
// in the namespace ARM's guid() uses.
func armGUIDOf(parts ...string) string {
	ns := [16]byte{0x11, 0xfb, 0x06, 0xfb, 0x71, 0x2d, 0x4d, 0xdd, 0x98, 0xc7, 0xe7, 0x1b, 0xbd, 0x58, 0x88, 0x30}
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(strings.Join(parts, "-")))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
