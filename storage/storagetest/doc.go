// Package storagetest is the conformance suite that every storage.Storage
// implementation, and every decorator around one, runs.
//
// A backend's test file is three lines:
//
//	func TestStore(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Storage { return memory.New() })
//	}
//
// Run gives each subtest a fresh store from the constructor and runs the
// subtests in parallel. It checks the contract written in package storage:
// the sentinel error of every documented failure (with errors.Is), that a
// failed write leaves nothing behind, resumable, failed, truncated and
// aborted uploads, content invisible before commit, tag moves and the
// CheckTag hook, the referrers and tag indexes, pagination order and the
// `after` cursor of every walk (lexical byte order), SkipAll and callback
// errors, copy-in/copy-out of records, concurrent pushes of one digest and
// concurrent tag moves (run with -race), Close, and that the store is empty
// after everything is deleted. Tests of the storage.BlobWalker extension
// are skipped for stores that do not implement it.
//
// RunPersistent runs Run on stores opened on fresh directories, then
// restart tests: committed state, deletions and upload sessions must
// survive Close and a reopen on the same directory, and an interrupted
// upload must be resumable or abortable afterwards.
//
// Bench measures the hot paths (chunked upload and commit, PutManifest,
// GetManifest, ResolveTag, WalkTags over 5,000 tags) so that backends can
// be compared:
//
//	func BenchmarkStore(b *testing.B) {
//		storagetest.Bench(b, func(b *testing.B) storage.Storage { return memory.New() })
//	}
//
// The suite uses only the standard testing package. Where the storage
// contract leaves a choice to the backend (for example the byte count that
// AppendUpload returns together with an error) the suite does not test it.
package storagetest
