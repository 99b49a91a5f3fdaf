// Package memory implements storage.Storage entirely in memory, for tests
// and for short-lived embedded registries.
//
// A Store built by New holds blob bytes, upload data and metadata in maps.
// Nothing survives the process or Close. The Store starts no goroutines and
// is safe for concurrent use: blob bytes and upload data sit behind one
// RWMutex, metadata (repositories, manifests, tags, links, upload state)
// behind another, so uploads do not block manifest reads.
//
// # Contract details
//
// The Store follows the storage package contract and runs the
// storagetest conformance suite. Where the contract leaves room:
//
//   - AppendUpload reads r to the end before it takes a lock, so a slow
//     client never blocks other callers. If reading fails, nothing of that
//     call is kept; the error is returned with the number of bytes read.
//     An append whose u.Offset is beyond the stored data returns
//     storage.ErrOffsetMismatch.
//   - CommitUpload of an upload with no data (never appended to, or
//     aborted) returns storage.ErrNotFound.
//   - PutManifest calls req.CheckTag only for tags that point at another
//     digest. CheckTag and UpdateRepository's fn run inside the critical
//     section and must not call the Store.
//   - Walk callbacks run on a snapshot, outside every lock, so they may call
//     any method of the Store, including writes.
//   - WalkManifests, WalkTags, WalkReferrers, WalkBlobLinks and TagsOf
//     return storage.ErrNotFound for an unknown repository; TagsOf also for
//     an unknown manifest. LinkBlob does not check that the blob is
//     committed: the metadata and the blob bytes are independent.
//   - Records go in and out as deep copies: callers never alias stored
//     payloads, slices or maps.
//   - After Close every method returns storage.ErrClosed.
//
// The Store also implements the storage.BlobWalker extension.
package memory
