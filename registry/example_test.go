package registry_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage/memory"
)

func ExampleNew() {
	store := memory.New()
	defer store.Close()
	reg, err := registry.New(store)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()

	repo, err := reg.CreateRepository(context.Background(), registry.CreateRepositoryInput{
		Name:          "team-a/web-app",
		TagMutability: registry.ImmutableWithExclusion,
		// Every tag but latest is write-once.
		MutabilityExclusionFilters: []string{"latest"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(repo.Name, repo.TagMutability)
	// Output: team-a/web-app IMMUTABLE_WITH_EXCLUSION
}

func ExampleRegistry_PutImage() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	reg, _ := registry.New(store)
	defer reg.Close()

	// Blobs first: the config and one layer.
	config := `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`
	cfg, _ := reg.PushBlob(ctx, "team-a/web-app", "", strings.NewReader(config))
	layer, _ := reg.PushBlob(ctx, "team-a/web-app", "", strings.NewReader("layer bytes"))

	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		cfg.Digest, cfg.Size, layer.Digest, layer.Size)
	img, err := reg.PutImage(ctx, registry.PutImageInput{Repository: "team-a/web-app", Manifest: []byte(manifest), Tag: "v1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	got, _ := reg.GetImage(ctx, "team-a/web-app", "v1")
	fmt.Println(got.Descriptor.Digest == img.Descriptor.Digest, got.Descriptor.MediaType)

	// A manifest whose layers are not in the repository is refused.
	bad := strings.Replace(manifest, layer.Digest.String(), digest.FromString("missing").String(), 1)
	_, err = reg.PutImage(ctx, registry.PutImageInput{Repository: "team-a/web-app", Manifest: []byte(bad), Tag: "v2"})
	fmt.Println(errors.Is(err, registry.ErrManifestBlobUnknown))
	// Output:
	// true application/vnd.oci.image.manifest.v1+json
	// true
}

func ExampleRegistry_WriteUpload() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	reg, _ := registry.New(store)
	defer reg.Close()

	data := "hello, chunked world"
	up, _ := reg.StartUpload(ctx, "ns/app")
	st, _ := reg.WriteUpload(ctx, "ns/app", up.ID, 0, strings.NewReader(data[:5]))
	fmt.Println("offset", st.Offset)

	// A chunk that does not continue where the upload stands is refused.
	_, err := reg.WriteUpload(ctx, "ns/app", up.ID, 10, strings.NewReader(data[10:]))
	var oe *registry.UploadOffsetError
	fmt.Println(errors.As(err, &oe), oe.Offset)

	desc, err := reg.CompleteUpload(ctx, "ns/app", up.ID, digest.FromString(data), 5, strings.NewReader(data[5:]))
	fmt.Println(desc.Size, err)
	// Output:
	// offset 5
	// true 5
	// 20 <nil>
}
