package registry_test

import (
	"errors"
	"testing"

	"github.com/berth-dev/berth/registry"
)

func FuzzParseManifest(f *testing.F) {
	seeds := []string{
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}]}`,
		`{"schemaVersion":1,"fsLayers":[]}`,
		`{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"data":"e30="}}`,
		`{"schemaVersion":2,"subject":{"mediaType":"x","digest":"sha512:abc","size":1}}`,
		`[]`, `null`, `{"schemaVersion":2}`, "",
	}
	for _, s := range seeds {
		f.Add("", []byte(s))
		f.Add("application/vnd.docker.distribution.manifest.v2+json", []byte(s))
	}
	f.Fuzz(func(t *testing.T, contentType string, payload []byte) {
		m, err := registry.ParseManifest(contentType, payload)
		if err != nil {
			if !errors.Is(err, registry.ErrManifestInvalid) {
				t.Fatalf("ParseManifest() error = %v, want ErrManifestInvalid", err)
			}
			return
		}
		if m.MediaType == "" {
			t.Fatal("parsed manifest without media type")
		}
		if m.IsIndex() && m.Config != nil {
			t.Fatal("index with config")
		}
		if !m.IsIndex() && m.Config == nil {
			t.Fatal("image manifest without config")
		}
	})
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"latest", "v1.0", "_x", "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "sha512:00", "a:b", "", "-x", "UPPER"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := registry.ParseReference(s)
		if err != nil {
			if !errors.Is(err, registry.ErrTagInvalid) && !errors.Is(err, registry.ErrDigestInvalid) {
				t.Fatalf("ParseReference(%q) error = %v", s, err)
			}
			return
		}
		if (ref.Tag == "") == (ref.Digest == "") {
			t.Fatalf("ParseReference(%q) = %+v: want exactly one of tag and digest", s, ref)
		}
		if ref.String() != s {
			t.Fatalf("ParseReference(%q).String() = %q", s, ref.String())
		}
	})
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"ab", "team-a/web-app", "a__b", "a//b", "A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := registry.ValidateName(s); err != nil && !errors.Is(err, registry.ErrNameInvalid) {
			t.Fatalf("ValidateName(%q) error = %v", s, err)
		}
	})
}
