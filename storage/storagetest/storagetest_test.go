package storagetest_test

import (
	"context"
	"sync"
	"testing"

	"github.com/berth-dev/berth/storage"
	"github.com/berth-dev/berth/storage/memory"
	"github.com/berth-dev/berth/storage/storagetest"
)

// disks maps a directory to the memory store that plays its contents, so
// that the restart tests of RunPersistent can run without a persistent
// backend.
var disks sync.Map // string -> *memory.Store

// handle is one open store on a directory. Close detaches it from the
// directory's contents, which live on.
type handle struct {
	storage.Storage
}

func (h *handle) Close() error {
	closed := memory.New()
	_ = closed.Close()
	h.Storage = closed
	return nil
}

func (h *handle) WalkBlobs(ctx context.Context, fn func(storage.BlobInfo) error) error {
	return h.Storage.(storage.BlobWalker).WalkBlobs(ctx, fn)
}

func open(_ *testing.T, dir string) storage.Storage {
	s, _ := disks.LoadOrStore(dir, memory.New())
	return &handle{Storage: s.(*memory.Store)}
}

func TestRunPersistent(t *testing.T) {
	storagetest.RunPersistent(t, open)
}
