package fake

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Paging of the describe actions: MaxResults and NextToken.

// page is the paging parameters of a describe whose MaxResults may be
// from 5 to max.
func page(max int) spec {
	return spec{"Filter.N.Name": nil, "Filter.N.Value.N": nil, "MaxResults": integer(5, max), "NextToken": nil}
}

// paging is one describe's MaxResults rules.
type paging struct {
	// max is the largest MaxResults (the smallest is 5 everywhere).
	max int
	// clamp reads a larger MaxResults as max instead of refusing it.
	clamp bool
	// notWithIDs: the request named ids, which MaxResults cannot go with.
	notWithIDs bool
}

// pageOf returns one page of items (all of one kind in the caller's
// region) and the NextToken of the next page, "" after the last. As EC2
// does, a page reads up to MaxResults items in a fixed order from where
// NextToken says, and the caller filters only those: a page may hold fewer
// matches than MaxResults, or none, and still not be the last, so a caller
// must follow NextToken to the end. Without MaxResults the rest is one
// page, as EC2 answers an unpaginated request.
func pageOf[T any](s *Server, p params, items []T, idOf func(T) string, rules paging) ([]T, string, *apiError) {
	// Ids from NewID grow with creation, so id order is creation order
	// and a token stays good when items before it go.
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(idOf(a), idOf(b)) })
	if tok := p.get("NextToken"); tok != "" {
		after, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || !strings.HasPrefix(string(after), pageTokenPrefix) {
			return nil, "", errf(http.StatusBadRequest, "InvalidPaginationToken", "The specified pagination token is not valid or is expired.")
		}
		last := strings.TrimPrefix(string(after), pageTokenPrefix)
		items = slices.DeleteFunc(items, func(v T) bool { return idOf(v) <= last })
	}
	n, e := maxResults(p, rules)
	if e != nil {
		return nil, "", e
	}
	if n == 0 {
		return items, "", nil
	}
	s.mu.Lock()
	if s.pageLimit > 0 {
		n = min(n, s.pageLimit)
	}
	s.mu.Unlock()
	if len(items) <= n {
		return items, "", nil
	}
	return items[:n], base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + idOf(items[n-1]))), nil
}

// maxResults checks the request's MaxResults against rules and returns
// the page size it asks for, 0 when it asks for none. The describes call it
// before they look up ids, as EC2 checks parameters first.
func maxResults(p params, rules paging) (int, *apiError) {
	raw := p.get("MaxResults")
	if raw == "" {
		return 0, nil
	}
	if rules.notWithIDs {
		return 0, errf(http.StatusBadRequest, "InvalidParameterCombination", "The parameter MaxResults cannot be used with the ids parameter in the same request")
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 5 || (n > rules.max && !rules.clamp) {
		return 0, invalidValue("Value ( %s ) for parameter maxResults is invalid. Expecting a value between 5 and %d.", raw, rules.max)
	}
	return min(n, rules.max), nil
}

// pageTokenPrefix marks the fake's page tokens; the rest is the last id read.
const pageTokenPrefix = "fake-ec2-page/"

// withNextToken closes the item set open in d and adds the token of the
// next page, if there is one.
func withNextToken(d *xmlDoc, next string) *xmlDoc {
	d.close()
	if next != "" {
		d.el("nextToken", next)
	}
	return d
}
