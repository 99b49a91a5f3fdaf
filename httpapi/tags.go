package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/berth-dev/berth/registry"
)

// maxPageParam bounds n.
const maxPageParam = 1 << 30

// page is the parsed ?n=&last= of a listing.
type page struct {
	// n is the requested page size, or -1 when the client gave none.
	n    int
	last string
}

// parsePage parses the pagination parameters of a listing. An n that is not
// a non-negative integer is refused (400).
//
// Reference: https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#listing-tags
func parsePage(q url.Values) (page, error) {
	p := page{n: -1, last: q.Get("last")}
	if v := q.Get("n"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return page{}, fmt.Errorf("n=%q: must be a non-negative integer: %w", truncate(v), registry.ErrInvalidParameter)
		}
		p.n = min(n, maxPageParam)
	}
	return p, nil
}

// listFunc lists up to n names after last and reports whether more follow;
// n <= 0 asks for the registry's maximum page.
type listFunc func(ctx context.Context, last string, n int) ([]string, bool, error)

// list runs a paginated listing and reports whether more entries follow the
// returned ones. With n=0 it still calls list once (for one entry), so that
// an unknown repository or a denied request fails as it would otherwise.
func list(ctx context.Context, fn listFunc, p page) (names []string, more bool, err error) {
	ask := 0
	if p.n > 0 {
		ask = p.n
	} else if p.n == 0 {
		ask = 1
	}
	names, more, err = fn(ctx, p.last, ask)
	if err != nil {
		return nil, false, err
	}
	if p.n == 0 {
		return []string{}, false, nil
	}
	return names, more, nil
}

// nextLink is the Link header pointing at the page after names.
func nextLink(path string, names []string, p page) string {
	n := p.n
	if n < 0 {
		n = len(names)
	}
	q := url.Values{"last": {names[len(names)-1]}, "n": {strconv.Itoa(n)}}
	return "<" + path + "?" + q.Encode() + `>; rel="next"`
}

// serveTags serves GET /v2/<name>/tags/list?n=&last=.
//
// Reference: https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#listing-tags
func (h *Handler) serveTags(w http.ResponseWriter, r *http.Request, name string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(r.Method)
	}
	p, err := parsePage(r.URL.Query())
	if err != nil {
		return err
	}
	fn := func(ctx context.Context, last string, n int) ([]string, bool, error) {
		return h.reg.ListTags(ctx, name, last, n)
	}
	tags, more, err := list(r.Context(), fn, p)
	if err != nil {
		return err
	}
	if tags == nil {
		tags = []string{}
	}
	if more {
		w.Header()["Link"] = []string{nextLink("/v2/"+name+"/tags/list", tags, p)}
	}
	return writeJSON(w, r, contentTypeJSON, struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{name, tags})
}

// serveCatalog serves GET /v2/_catalog?n=&last=, the repository listing
// that the Docker registry API defines and the OCI spec leaves to
// implementations.
func (h *Handler) serveCatalog(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(r.Method)
	}
	p, err := parsePage(r.URL.Query())
	if err != nil {
		return err
	}
	repos, more, err := list(r.Context(), h.reg.ListRepositories, p)
	if err != nil {
		return err
	}
	if repos == nil {
		repos = []string{}
	}
	if more {
		w.Header()["Link"] = []string{nextLink("/v2/_catalog", repos, p)}
	}
	return writeJSON(w, r, contentTypeJSON, struct {
		Repositories []string `json:"repositories"`
	}{repos})
}

// writeJSON writes a 200 response with a JSON body.
func writeJSON(w http.ResponseWriter, r *http.Request, contentType []string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	hdr := w.Header()
	hdr["Content-Type"] = contentType
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return nil
}
