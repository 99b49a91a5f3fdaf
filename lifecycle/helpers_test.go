package lifecycle_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/lifecycle"
)

// now is the fake clock of every test.
var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// ago returns the time d before now.
func ago(d time.Duration) time.Time { return now.Add(-d) }

// dg is the digest of a test image named name.
func dg(name string) digest.Digest { return digest.FromString(name) }

// img describes a test image by name.
type img struct {
	name     string
	tags     []string
	pushed   time.Duration // before now
	pulled   time.Duration // before now; 0: never pulled
	subject  string        // name of the subject image
	children []string      // names of child manifests
}

func (m img) image() lifecycle.Image {
	im := lifecycle.Image{
		Digest:    dg(m.name),
		Tags:      m.tags,
		PushedAt:  ago(m.pushed),
		MediaType: "application/vnd.oci.image.manifest.v1+json",
	}
	if m.pulled != 0 {
		im.LastPulledAt = ago(m.pulled)
	}
	if m.subject != "" {
		im.Subject = dg(m.subject)
	}
	if len(m.children) > 0 {
		im.MediaType = "application/vnd.oci.image.index.v1+json"
		for _, c := range m.children {
			im.Children = append(im.Children, dg(c))
		}
	}
	return im
}

func images(ms []img) []lifecycle.Image {
	out := make([]lifecycle.Image, len(ms))
	for i, m := range ms {
		out[i] = m.image()
	}
	return out
}

// expiry is what a test expects of one expired image.
type expiry struct {
	priority int
	via      string // name of the index or subject; empty when expired by its rule
}

// byRule builds the expectation "these images are expired by their rule".
func byRule(priority int, names ...string) map[string]expiry {
	out := make(map[string]expiry, len(names))
	for _, n := range names {
		out[n] = expiry{priority: priority}
	}
	return out
}

func merge(ms ...map[string]expiry) map[string]expiry {
	out := make(map[string]expiry)
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

// checkResults compares results with the expected expiries, by image name.
func checkResults(t *testing.T, ms []img, got []lifecycle.Result, want map[string]expiry) {
	t.Helper()
	names := make(map[digest.Digest]string, len(ms))
	for _, m := range ms {
		names[dg(m.name)] = m.name
	}
	gotMap := make(map[string]expiry, len(got))
	for _, r := range got {
		n, ok := names[r.Digest]
		if !ok {
			t.Errorf("result for unknown digest %s", r.Digest)
			continue
		}
		if _, dup := gotMap[n]; dup {
			t.Errorf("image %s appears twice in the results", n)
		}
		e := expiry{priority: r.RulePriority}
		if r.Via != "" {
			e.via = names[r.Via]
		}
		gotMap[n] = e
		if r.Action != lifecycle.ImageActionExpire {
			t.Errorf("image %s: Action = %q, want EXPIRE", n, r.Action)
		}
	}
	if !maps.Equal(gotMap, want) {
		t.Errorf("expired = %s, want %s", describe(gotMap), describe(want))
	}
	// Results are ordered by push time, then digest.
	if !slices.IsSortedFunc(got, func(a, b lifecycle.Result) int {
		if c := a.PushedAt.Compare(b.PushedAt); c != 0 {
			return c
		}
		return strings.Compare(string(a.Digest), string(b.Digest))
	}) {
		t.Errorf("results not ordered by push time: %v", got)
	}
}

func describe(m map[string]expiry) string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(m)) {
		e := m[n]
		s := fmt.Sprintf("%s:rule %d", n, e.priority)
		if e.via != "" {
			s += " via " + e.via
		}
		parts = append(parts, s)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func mustParse(t testing.TB, text string) *lifecycle.Policy {
	t.Helper()
	p, err := lifecycle.ParsePolicy([]byte(text))
	if err != nil {
		t.Fatalf("ParsePolicy() error = %v\n%s", err, text)
	}
	return p
}
