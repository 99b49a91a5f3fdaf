package testingexample_test

import (
	"bytes"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/berth-dev/berth/registry/registrytest"
)

// TestPushPull pushes a random image to a throwaway registry and pulls it
// back with go-containerregistry, as a test of your own client code would.
func TestPushPull(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []registrytest.Option
	}{
		{"memory", nil},
		{"badger", []registrytest.Option{registrytest.WithBadger()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := registrytest.New(t, tc.opts...)

			img, err := random.Image(4096, 3)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := name.ParseReference(reg.Ref("team/app:v1"))
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(ref, img); err != nil {
				t.Fatalf("remote.Write() error = %v", err)
			}

			got, err := remote.Image(ref)
			if err != nil {
				t.Fatalf("remote.Image() error = %v", err)
			}
			// validate.Image downloads every blob and checks it against its
			// digest and size.
			if err := validate.Image(got); err != nil {
				t.Errorf("validate.Image() error = %v", err)
			}

			wantDigest, _ := img.Digest()
			gotDigest, err := got.Digest()
			if err != nil || gotDigest != wantDigest {
				t.Errorf("Digest() = %v, %v, want %v", gotDigest, err, wantDigest)
			}
			wantRaw, _ := img.RawManifest()
			gotRaw, _ := got.RawManifest()
			if !bytes.Equal(gotRaw, wantRaw) {
				t.Errorf("RawManifest() differs from the pushed manifest")
			}
			wantLayers, _ := img.Layers()
			gotLayers, _ := got.Layers()
			if len(gotLayers) != len(wantLayers) {
				t.Fatalf("len(Layers()) = %d, want %d", len(gotLayers), len(wantLayers))
			}
			for i := range wantLayers {
				w, _ := wantLayers[i].Digest()
				g, _ := gotLayers[i].Digest()
				if g != w {
					t.Errorf("layer %d digest = %s, want %s", i, g, w)
				}
			}

			// The registry is also reachable without HTTP.
			im, err := reg.Registry.GetImage(t.Context(), "team/app", "v1")
			if err != nil {
				t.Fatalf("Registry.GetImage() error = %v", err)
			}
			if im.Descriptor.Digest.String() != wantDigest.String() {
				t.Errorf("GetImage().Descriptor.Digest = %s, want %s", im.Descriptor.Digest, wantDigest)
			}
		})
	}
}
