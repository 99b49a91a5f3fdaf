package badgerstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
	"github.com/berth-dev/berth/storage/badgerstore"
)

// Example pushes a blob and a manifest the way a registry does, then
// resolves the tag.
func Example() {
	dir, err := os.MkdirTemp("", "berth-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := badgerstore.New(badgerstore.Options{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()

	if err := s.CreateRepository(ctx, storage.Repository{Name: "library/hello", CreatedAt: time.Now()}); err != nil {
		log.Fatal(err)
	}

	// Upload a blob: append, record the offset, commit, link.
	layer := "hello, world\n"
	u := storage.Upload{ID: "upload-1", Repository: "library/hello", StartedAt: time.Now()}
	n, err := s.AppendUpload(ctx, &u, strings.NewReader(layer))
	if err != nil {
		log.Fatal(err)
	}
	u.Offset += n
	if err := s.PutUpload(ctx, u); err != nil {
		log.Fatal(err)
	}
	d := digest.FromString(layer)
	if err := s.CommitUpload(ctx, &u, d); err != nil {
		log.Fatal(err)
	}
	if err := s.CompleteUpload(ctx, u.ID, storage.BlobLink{Digest: d, Size: n}); err != nil {
		log.Fatal(err)
	}

	// Put a manifest that references it, tagged "latest".
	payload := []byte(`{"schemaVersion":2,"layers":["` + d.String() + `"]}`)
	m := storage.Manifest{
		Digest:    digest.FromBytes(payload),
		MediaType: "application/vnd.oci.image.manifest.v1+json",
		Size:      int64(len(payload)),
		Blobs:     []digest.Digest{d},
		PushedAt:  time.Now(),
		Payload:   payload,
	}
	err = s.PutManifest(ctx, storage.PutManifestRequest{Repository: "library/hello", Manifest: m, Tags: []string{"latest"}})
	if err != nil {
		log.Fatal(err)
	}

	got, err := s.ResolveTag(ctx, "library/hello", "latest")
	if err != nil {
		log.Fatal(err)
	}
	info, err := s.StatBlob(ctx, d)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got == m.Digest, info.Size)
	// Output: true 13
}
