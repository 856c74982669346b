package azure

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/goldenpipe/goldenpipe/config"
	"github.com/goldenpipe/goldenpipe/internal/azurite"
)

// emptyPages stands between the table client and Azurite and does what
// Azure may do and Azurite never does: "It is possible for a query to
// return no results but to still return a continuation header" (Table
// service REST, Query timeout and pagination). Every fresh query of a
// buckets table is answered with an empty page carrying
// x-ms-continuation-NextPartitionKey and -NextRowKey; the query that
// follows them goes to Azurite as the original query, so the results come
// on the page after the empty one.
type emptyPages struct {
	injected atomic.Int64
}

const fakeToken = "1!12!fakecontinue"

func (e *emptyPages) Do(req *policy.Request) (*http.Response, error) {
	r := req.Raw()
	q := r.URL.Query()
	if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "buckets") {
		return req.Next()
	}
	if q.Get("NextPartitionKey") == fakeToken {
		q.Del("NextPartitionKey")
		q.Del("NextRowKey")
		r.URL.RawQuery = q.Encode()
		return req.Next()
	}
	if q.Get("NextPartitionKey") != "" {
		return req.Next() // Azurite's own continuation
	}
	e.injected.Add(1)
	h := http.Header{}
	h.Set("Content-Type", "application/json;odata=minimalmetadata;streaming=true;charset=utf-8")
	h.Set("x-ms-continuation-NextPartitionKey", fakeToken)
	h.Set("x-ms-continuation-NextRowKey", url.QueryEscape(fakeToken))
	body := `{"odata.metadata":"` + r.URL.Scheme + "://" + r.URL.Host + `/$metadata#t","value":[]}`
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

// Must show (issue 23): a bucket listing across empty pages that carry a
// continuation token returns every entity, in order, whatever the page
// size (before: the listing stopped at the first empty page and dropped
// every build from the lists).
func TestBucketListingFollowsContinuationThroughEmptyPages(t *testing.T) {
	ctx := context.Background()
	conn := config.StorageConnection{Name: "State", ConnectionString: az.ConnectionString(azurite.Account{}), TableURL: az.TableEndpoint + "/"}
	blobs, err := NewBlobService(conn)
	if err != nil {
		t.Fatal(err)
	}
	inj := &emptyPages{}
	tbl, err := aztables.NewServiceClientFromConnectionString(conn.ConnectionString,
		&aztables.ClientOptions{ClientOptions: azcore.ClientOptions{PerCallPolicies: []policy.Policy{inj}}})
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("ct%d%d", time.Now().UnixNano()%1e9, rand.IntN(1000))
	if err := EnsureContainer(ctx, blobs, name); err != nil {
		t.Fatal(err)
	}
	kinds := []TableKind{{Prefix: "by-time/", Table: "ct" + name, Bucket: 4}}
	s := NewStore(blobs, tbl, name, kinds)
	var want []string
	for i := range 60 {
		k := "by-time/" + timeKey(i*5) // many buckets
		if _, err := s.Overwrite(ctx, k, map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
		want = append(want, k)
	}
	slices.Sort(want)
	for _, size := range []int{7, 100} {
		var got []string
		marker := ""
		for range 100 {
			keys, next, err := s.KeysPage(ctx, "by-time/", marker, size)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, keys...)
			if next == "" {
				break
			}
			marker = next
		}
		if !slices.Equal(got, want) {
			t.Errorf("pages of %d: %d keys, want %d", size, len(got), len(want))
		}
	}
	if inj.injected.Load() == 0 {
		t.Fatal("no empty page was injected: the test shows nothing")
	}
}
