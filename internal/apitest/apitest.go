// Package apitest reads the app's API in tests: a paged list
// ({value, nextLink}, as Azure's list APIs answer) read into a slice is
// read whole, following nextLink.
package apitest

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
)

// AppendPage decodes an answer into v: a page's value appended to the
// slice v points to (returning its nextLink), or anything else as it is.
func AppendPage(body []byte, v any) (string, error) {
	rv := reflect.ValueOf(v)
	var p struct {
		Value    json.RawMessage `json:"value"`
		NextLink string          `json:"nextLink"`
	}
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Slice || json.Unmarshal(body, &p) != nil || p.Value == nil {
		return "", json.Unmarshal(body, v)
	}
	items := reflect.New(rv.Elem().Type())
	if err := json.Unmarshal(p.Value, items.Interface()); err != nil {
		return "", err
	}
	rv.Elem().Set(reflect.AppendSlice(rv.Elem(), items.Elem()))
	return p.NextLink, nil
}

// maxPages bounds the pages one Get follows.
const maxPages = 1000

// Get decodes the answer to a GET of url into v, every page of a list, and
// returns the first answer's status (0 when the server does not answer).
func Get(url string, v any) int {
	status := 0
	for page := 0; page < maxPages && url != ""; page++ {
		resp, err := http.Get(url)
		if err != nil {
			return status
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if page == 0 {
			status = resp.StatusCode
		}
		if err != nil || resp.StatusCode != http.StatusOK {
			return status
		}
		if url, err = AppendPage(b, v); err != nil {
			return status
		}
	}
	return status
}
