package memory_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
	"github.com/berth-dev/berth/storage/memory"
)

// Example pushes a blob through a resumable upload, as a registry does,
// then reads it back.
func Example() {
	ctx := context.Background()
	s := memory.New()
	defer s.Close()

	if err := s.CreateRepository(ctx, storage.Repository{Name: "library/hello"}); err != nil {
		log.Fatal(err)
	}

	content := []byte("hello, berth")
	dgst := digest.FromBytes(content)
	u := storage.Upload{ID: "upload-1", Repository: "library/hello", Algorithm: digest.SHA256}
	for _, chunk := range [][]byte{content[:5], content[5:]} {
		n, err := s.AppendUpload(ctx, &u, bytes.NewReader(chunk))
		if err != nil {
			log.Fatal(err)
		}
		u.Offset += n
		if err := s.PutUpload(ctx, u); err != nil { // any node can resume from here
			log.Fatal(err)
		}
	}
	if err := s.CommitUpload(ctx, &u, dgst); err != nil {
		log.Fatal(err)
	}
	if err := s.CompleteUpload(ctx, u.ID, storage.BlobLink{Digest: dgst, Size: u.Offset}); err != nil {
		log.Fatal(err)
	}

	rc, err := s.OpenBlob(ctx, dgst)
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	got, _ := io.ReadAll(rc)
	link, _ := s.GetBlobLink(ctx, "library/hello", dgst)
	fmt.Printf("%s (%d bytes)\n", got, link.Size)
	// Output: hello, berth (12 bytes)
}
