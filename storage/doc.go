// Package storage defines the pluggable storage contract of a Berth registry:
// small role interfaces for blob bytes (BlobStatter, BlobOpener, BlobDeleter,
// BlobIngester) and for metadata (RepositoryStore, ManifestStore,
// BlobLinker, UploadStore), composed into Storage.
//
// # Contract
//
// Writes go ingest, verify, commit. Upload bytes are appended to a session
// with BlobIngester.AppendUpload; the caller hashes them while they stream
// and keeps the resumable hash state in the Upload record, which it stores
// with UploadStore.PutUpload. CommitUpload makes the bytes visible as a blob
// only after the caller verified the digest and the store verified the size
// and made the bytes durable. Nothing in the interface renames files, so an
// object-store backend can keep parts and compose them on commit.
//
// A manifest write (manifest, references, tags, and on create-on-push the
// repository) is a single metadata transaction (ManifestStore.PutManifest),
// which also checks, inside that transaction, that every referenced blob is
// linked to the repository and every child manifest is in it.
//
// Blobs are stored once; BlobLinker records which repositories may read
// them. Deleting a manifest or unlinking a blob never deletes bytes: that is
// the garbage collector's job, through the BlobWalker extension and
// BlobDeleter.
//
// # Errors
//
// Implementations return the sentinels in errors.go, wrapped with context.
// Callers test them with errors.Is.
//
// # Concurrency
//
// Every implementation is safe for concurrent use. Walk callbacks run
// outside any lock that would stop other writers for long, but must not call
// back into the same store's write methods.
//
// Every implementation runs the conformance suite in package storagetest.
package storage
