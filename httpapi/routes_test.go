package httpapi

import (
	"errors"
	"testing"

	"github.com/berth-dev/berth/registry"
)

func TestParseRoute(t *testing.T) {
	tests := []struct {
		path string
		want route
	}{
		{"/v2/", route{kind: routeBase}},
		{"/v2", route{kind: routeBase}},
		{"/v2/_catalog", route{kind: routeCatalog}},
		{"/v2/a/b/tags/list", route{kind: routeTags, name: "a/b"}},
		{"/v2/a/manifests/tags/list", route{kind: routeTags, name: "a/manifests"}},
		{"/v2/a/b/manifests/latest", route{kind: routeManifest, name: "a/b", ref: "latest"}},
		{"/v2/a/blobs/b/manifests/sha256:00", route{kind: routeManifest, name: "a/blobs/b", ref: "sha256:00"}},
		{"/v2/a/manifests/b/blobs/sha256:00", route{kind: routeBlob, name: "a/manifests/b", ref: "sha256:00"}},
		{"/v2/a/blobs/uploads/", route{kind: routeUploadNew, name: "a"}},
		{"/v2/a/blobs/uploads", route{kind: routeUploadNew, name: "a"}},
		{"/v2/a/blobs/uploads/abc", route{kind: routeUpload, name: "a", ref: "abc"}},
		{"/v2/a/blobs/uploads/blobs/uploads/abc", route{kind: routeUpload, name: "a/blobs/uploads", ref: "abc"}},
		{"/v2/a/referrers/sha256:00", route{kind: routeReferrers, name: "a", ref: "sha256:00"}},
		{"/v2/a/tags/list/manifests/x", route{kind: routeManifest, name: "a/tags/list", ref: "x"}},
		{"/v2/manifests/x", route{}},
		{"/v2/a/manifests/", route{}},
		{"/v2/a/blobs/", route{}},
		{"/v2/a/referrers/", route{}},
		{"/v2/tags/list", route{}},
		{"/v2//tags/list", route{}},
		{"/v2///tags/list", route{kind: routeTags, name: "/"}},
		{"/v2/a", route{}},
		{"/v2/a/", route{}},
		{"/v1/a/manifests/x", route{}},
		{"", route{}},
		{"/", route{}},
		{"/v2/blobs/uploads/", route{}},
		{"/v2/a/unknown/x", route{}},
	}
	for _, tt := range tests {
		if got := parseRoute(tt.path); got != tt.want {
			t.Errorf("parseRoute(%q) = %+v, want %+v", tt.path, got, tt.want)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in         string
		start, end int64
		wantErr    error
	}{
		{"0-0", 0, 0, nil},
		{"0-99", 0, 99, nil},
		{"100-199", 100, 199, nil},
		{" 5-9 ", 5, 9, nil},
		{"bytes 5-9/10", 5, 9, nil},
		{"bytes 5-9/*", 5, 9, nil},
		{"bytes=5-9", 5, 9, nil},
		{"9-5", 0, 0, registry.ErrRangeInvalid},
		{"", 0, 0, registry.ErrBlobUploadInvalid},
		{"5", 0, 0, registry.ErrBlobUploadInvalid},
		{"5-", 0, 0, registry.ErrBlobUploadInvalid},
		{"-5", 0, 0, registry.ErrBlobUploadInvalid},
		{"-5-9", 0, 0, registry.ErrBlobUploadInvalid},
		{"5--9", 0, 0, registry.ErrBlobUploadInvalid},
		{"+5-9", 0, 0, registry.ErrBlobUploadInvalid},
		{"a-b", 0, 0, registry.ErrBlobUploadInvalid},
		{"0x5-9", 0, 0, registry.ErrBlobUploadInvalid},
		{"5-99999999999999999999", 0, 0, registry.ErrBlobUploadInvalid},
		{"5 - 9", 0, 0, registry.ErrBlobUploadInvalid},
	}
	for _, tt := range tests {
		start, end, err := parseContentRange(tt.in)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("parseContentRange(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || start != tt.start || end != tt.end {
			t.Errorf("parseContentRange(%q) = %d, %d, %v, want %d, %d", tt.in, start, end, err, tt.start, tt.end)
		}
	}
}

func TestUploadRange(t *testing.T) {
	for offset, want := range map[int64]string{0: "0-0", 1: "0-0", 2: "0-1", 1024: "0-1023"} {
		if got := uploadRange(offset); got != want {
			t.Errorf("uploadRange(%d) = %q, want %q", offset, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	// Every sentinel the registry documents is a client error with a
	// status of its own, never the 500 fallback.
	for _, m := range errorTable {
		status, code := classify(m.target)
		if status != m.status || code != m.code {
			t.Errorf("classify(%v) = %d %s, want %d %s (an earlier row shadows it)", m.target, status, code, m.status, m.code)
		}
	}
	if status, code := classify(errors.New("disk on fire")); status != 500 || code != "UNKNOWN" {
		t.Errorf("classify(unknown) = %d %s, want 500 UNKNOWN", status, code)
	}
	wrapped := &registry.UploadOffsetError{Offset: 3, Got: 5}
	if status, _ := classify(wrapped); status != 416 {
		t.Errorf("classify(UploadOffsetError) = %d, want 416", status)
	}
}
