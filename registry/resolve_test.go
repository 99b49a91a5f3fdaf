package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/registry/registrytest"
	"github.com/berth-dev/berth/storage"
)

// TestPullThroughManifestResolver runs the pull path against the badger
// store, which implements storage.ManifestResolver and caches: reads come
// back right after every write, and what GetImage returns is the caller's.
func TestPullThroughManifestResolver(t *testing.T) {
	tr := registrytest.New(t, registrytest.WithBadger())
	if _, ok := tr.Storage.(storage.ManifestResolver); !ok {
		t.Fatal("badger store is not a ManifestResolver")
	}
	reg := tr.Registry
	ctx := context.Background()
	repo := "team/app"
	m1 := image(t, reg, repo, nil)
	m2 := image(t, reg, repo, func(m *ocispec.Manifest) { m.Annotations = map[string]string{"v": "2"} })
	d1, d2 := digest.FromBytes(m1), digest.FromBytes(m2)
	putImage(t, reg, repo, "latest", m1)

	get := func(ref string, want []byte) {
		t.Helper()
		for range 2 { // the second read is a cache hit
			img, err := reg.GetImage(ctx, repo, ref)
			if err != nil || !bytes.Equal(img.Manifest, want) {
				t.Fatalf("GetImage(%s) = %q, %v; want %q", ref, img.Manifest, err, want)
			}
			st, err := reg.StatImage(ctx, repo, ref)
			if err != nil || st.Manifest != nil || st.Descriptor.Digest != digest.FromBytes(want) || st.Descriptor.Size != int64(len(want)) {
				t.Fatalf("StatImage(%s) = %+v, %v", ref, st, err)
			}
			img.Manifest[0] = 'X' // must not reach the store's cache
		}
	}
	unknown := func(ref string, target error) {
		t.Helper()
		for range 2 {
			if _, err := reg.GetImage(ctx, repo, ref); !errors.Is(err, target) {
				t.Fatalf("GetImage(%s) error = %v, want %v", ref, err, target)
			}
			if _, err := reg.StatImage(ctx, repo, ref); !errors.Is(err, target) {
				t.Fatalf("StatImage(%s) error = %v, want %v", ref, err, target)
			}
		}
	}

	get("latest", m1)
	get(d1.String(), m1)
	putImage(t, reg, repo, "latest", m2)
	get("latest", m2)
	get(d1.String(), m1)
	if err := reg.DeleteImage(ctx, repo, "latest"); err != nil {
		t.Fatal(err)
	}
	unknown("latest", registry.ErrManifestUnknown)
	get(d2.String(), m2)
	putImage(t, reg, repo, "latest", m2)
	if err := reg.DeleteImage(ctx, repo, d2.String()); err != nil {
		t.Fatal(err)
	}
	unknown("latest", registry.ErrManifestUnknown)
	unknown(d2.String(), registry.ErrManifestUnknown)
	if _, err := reg.GetImage(ctx, "team/none", "latest"); !errors.Is(err, registry.ErrNameUnknown) {
		t.Fatalf("GetImage(unknown repository) error = %v, want ErrNameUnknown", err)
	}
	if _, err := reg.DeleteRepository(ctx, repo, true); err != nil {
		t.Fatal(err)
	}
	unknown(d1.String(), registry.ErrNameUnknown)
}

// TestListTagsDefaultPage lists more than a thousand tags in one page:
// a listing without n returns up to DefaultMaxPageSize.
func TestListTagsDefaultPage(t *testing.T) {
	tr := registrytest.New(t, registrytest.WithBadger())
	reg := tr.Registry
	ctx := context.Background()
	repo := "team/many"
	m := image(t, reg, repo, nil)
	tags := make([]string, 1500)
	for i := range tags {
		tags[i] = fmt.Sprintf("t%04d", i)
	}
	for i := 0; i < len(tags); i += 500 {
		if _, err := reg.PutImage(ctx, registry.PutImageInput{Repository: repo, Manifest: m, Tags: tags[i : i+500]}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		got, more, err := reg.ListTags(ctx, repo, "", 0)
		if err != nil || more || len(got) != len(tags) || got[0] != tags[0] || got[len(got)-1] != tags[len(tags)-1] {
			t.Fatalf("ListTags() = %d tags, more %v, %v; want %d", len(got), more, err, len(tags))
		}
	}
	got, more, err := reg.ListTags(ctx, repo, "t0999", 100)
	if err != nil || !more || len(got) != 100 || got[0] != "t1000" {
		t.Fatalf("ListTags(t0999, 100) = %d tags from %q, more %v, %v", len(got), got, more, err)
	}
}
