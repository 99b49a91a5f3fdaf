package storagetest

import (
	"testing"

	"github.com/berth-dev/berth/storage"
)

// test is one conformance check, run against a fresh store.
type test struct {
	name string
	fn   func(t *testing.T, s storage.Storage)
}

// group is a named set of tests, run as one t.Run subtest.
type group struct {
	name  string
	tests []test
}

// groups lists every check that Run performs.
func groups() []group {
	return []group{
		{"Blobs", blobTests},
		{"BlobWalker", blobWalkerTests},
		{"Repositories", repositoryTests},
		{"Manifests", manifestTests},
		{"Tags", tagTests},
		{"Referrers", referrerTests},
		{"BlobLinks", linkTests},
		{"Uploads", uploadTests},
		{"Concurrency", concurrencyTests},
		{"Lifecycle", lifecycleTests},
		{"Records", recordTests},
	}
}

// Run runs the conformance suite against fresh stores made by newStore
// (each subtest gets its own store). Subtests run in parallel, so newStore
// must be safe to call concurrently; it should register the store's Close
// with t.Cleanup (the suite may close a store itself first, and Close is
// idempotent).
func Run(t *testing.T, newStore func(t *testing.T) storage.Storage) {
	t.Helper()
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.fn(t, newStore(t))
				})
			}
		})
	}
}

// RunPersistent runs Run with stores opened on fresh directories, then
// restart tests: open(t, dir) opens a store on dir; the suite closes it and
// opens it again on the same dir, and checks that committed state and
// upload sessions survive. open must be safe to call concurrently for
// different directories.
func RunPersistent(t *testing.T, open func(t *testing.T, dir string) storage.Storage) {
	t.Helper()
	Run(t, func(t *testing.T) storage.Storage {
		s := open(t, t.TempDir())
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
	t.Run("Restart", func(t *testing.T) {
		t.Parallel()
		for _, tc := range restartTests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.fn(t, &reopener{t: t, open: open, dir: t.TempDir()})
			})
		}
	})
}
