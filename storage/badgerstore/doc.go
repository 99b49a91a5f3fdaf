// Package badgerstore implements storage.Storage as the default embedded
// backend: metadata in badger (github.com/dgraph-io/badger/v4), blob bytes
// in plain files, so that pulls are served by the kernel (sendfile).
//
// A Store is built by New from Options{Dir} and released by Close. It is
// safe for concurrent use and starts no goroutines beyond badger's own.
// Value-log garbage collection is the embedder's job: call CollectGarbage
// periodically. The Store also implements the storage.BlobWalker and
// storage.ManifestResolver extensions.
//
// # Layout
//
// Everything lives under Options.Dir:
//
//	<Dir>/
//	├── meta/                       badger database (LSM tables, value log, WAL)
//	├── ingest/
//	│   └── <upload id>             bytes of an upload session, appended in place
//	└── blobs/
//	    └── <alg>/                  sha256, sha512, ...
//	        └── <hex[0:2]>/         fan-out: at most 256 entries per level
//	            └── <hex>           a committed blob, immutable
//
// Upload IDs are 1 to 128 characters of [A-Za-z0-9_-], so an ID is always a
// plain file name in ingest/. Blob paths are built from validated digests.
// ingest/ and blobs/ share a file system, so committing is a rename.
//
// The badger keys form one tree. Components are separated by a NUL byte
// (␀), which no repository name, tag or digest may contain, so the prefix
// scan of repository "a" never meets keys of "a/b" or "a-b", and every
// listing comes out of the LSM already in lexical byte order:
//
//	berth/schema                          "2": the layout version; New
//	│                                     refuses a database with another,
//	│                                     and upgrades "1" (see below)
//	v1/                                   every key of layout version 1
//	├── repo/<name>                       Repository JSON. Repositories are
//	│                                     records, not implied by other keys;
//	│                                     WalkRepositories scans this prefix.
//	├── m/<repo>␀<digest>                 Manifest record without payload,
//	│                                     binary (record.go; JSON before
//	│                                     version 2): what listings,
//	│                                     referrers and a garbage collector
//	│                                     read.
//	├── mp/<repo>␀<digest>                the manifest payload, apart so that
//	│                                     listings never load it; small
//	│                                     payloads sit inline in the LSM.
//	├── tag/<repo>␀<tag>                  -> digest. ResolveTag is one read;
//	│                                     WalkTags scans <repo>␀.
//	├── mtag/<repo>␀<digest>␀<tag>        reverse tag index (empty value):
//	│                                     TagsOf, and deleting a manifest's
//	│                                     tags, without scanning every tag.
//	├── ref/<repo>␀<subject>␀<digest>     referrers index (empty value):
//	│                                     WalkReferrers scans one subject.
//	├── link/<repo>␀<digest>              BlobLink JSON: the repository may
//	│                                     read the blob.
//	├── bref/<blob>␀<repo>␀<manifest>     blob-reference index (empty value):
//	│                                     a garbage collector learns whether a
//	│                                     blob is referenced, and by what, by
//	│                                     scanning <blob>␀ instead of every
//	│                                     manifest.
//	├── upload/<id>                       Upload JSON (offset, hash state).
//	└── rec/<key>                         storage.RecordStore values (registry
//	                                      policy, scan configuration, reports).
//
// A new key layout gets a new top-level prefix and a migration; the schema
// key says which one a database holds. Version 2 keeps the keys of version
// 1 and writes manifest records in a binary form instead of JSON. It reads
// both, so New stamps a version 1 database as version 2 in place, and a
// release that only knows version 1 then refuses it instead of misreading
// binary records.
//
// # Crash safety
//
// Blob bytes become durable before any metadata can reference them, and
// every metadata change is one badger transaction:
//
//   - AppendUpload writes at u.Offset and fsyncs before it returns; the
//     caller then stores the new offset with PutUpload. A crash between the
//     two leaves bytes beyond the stored offset, which the next
//     AppendUpload truncates away. Data shorter than the stored offset is
//     reported as storage.ErrOffsetMismatch, never silently padded.
//   - CommitUpload fsyncs the data, renames it into blobs/ (creating and
//     fsyncing missing directories first) and fsyncs the target directory.
//     Only then does the caller link the blob (CompleteUpload, one
//     transaction that deletes the upload state and writes the link). A
//     crash in between leaves an unreferenced blob, which a garbage
//     collector removes; never a link to missing bytes.
//   - PutManifest checks links and child manifests and writes the
//     manifest, payload, tags and index entries in one transaction, so
//     readers see all of a push or none of it.
//   - Badger writes with SyncWrites, so a committed transaction is on disk
//     when the call returns.
//
// Options.NoSync skips every fsync, trading all of this for speed.
//
// DeleteRepository of a repository too large for one transaction deletes
// in batches, tags first and the repository record last; a crash midway
// leaves a smaller repository that still exists and can be deleted again.
// Meanwhile, writers that would add keys to that repository wait.
//
// # Badger settings
//
// Badger's defaults (64 MiB memtables x5, 256 MiB block cache) suit a
// database server, not a registry that must stay under 100 MiB of RSS
// while it streams 64 MiB layers to disk. New uses:
//
//   - MemTableSize 8 MiB, NumMemtables 2: one mutable memtable and one
//     being flushed, about 21 MiB of skiplist arena at worst (badger adds
//     about 30% for the batch overhead). Metadata records are small, so
//     8 MiB holds tens of thousands of them.
//   - NumLevelZeroTables 4, NumLevelZeroTablesStall 8: flush to L1 earlier
//     than badger's 5/15, bounding read amplification of a small database.
//   - Compression None: metadata is small, and uncompressed blocks are read
//     straight from the memory-mapped tables without a decode buffer.
//   - BlockCacheSize 8 MiB, IndexCacheSize 4 MiB: bounded caches for the
//     hot manifest and tag reads. Without an index cache badger keeps
//     every table index in memory, which grows with the database.
//   - ValueThreshold 64 KiB: manifests (a few KiB; large indexes tens of
//     KiB) and all records live in the LSM, read with one lookup; only
//     unusually large payloads go to the value log.
//   - ValueLogFileSize 64 MiB: smaller value-log files, so CollectGarbage
//     reclaims space in finer steps.
//   - NumCompactors 2 (badger's minimum other than none), NumGoroutines 2,
//     metrics off.
//   - SyncWrites unless Options.NoSync.
//   - Badger's logger is nil (silent) unless Options.Logger is set; then
//     its lines go to that logger, INFO and DEBUG at slog.LevelDebug.
//
// Options.TuneBadger can change any of these.
//
// # Group commit
//
// Badger batches concurrent commits into one write and one fsync, but a
// new transaction first waits for every earlier commit to reach the disk,
// so under load its batches stay small. The Store therefore combines
// concurrent metadata writes (pushes, tag moves, links, upload state,
// RecordPull) itself: one of the waiting callers runs up to 128 of them
// one after another in a single transaction and commits it once, then
// hands over to the next caller; no goroutine is started for it. Under
// steady concurrent load the leader may first wait briefly (at most half
// its last commit, and 500µs) for the queue to hold half as many writes
// as the last two groups, so that groups do not alternate between one
// write and all the others; a lone writer never waits. Each
// write sees the writes before it, so a group is equivalent to running
// them serially, and writes in one group never conflict (sixteen pushes
// moving "latest" apply in turn instead of retrying). A write that fails
// is taken out of the group and its error comes from a transaction of its
// own, so one caller's error never affects another's. DeleteRepository,
// and groups that conflict with it, use plain transactions with bounded
// retries on badger.ErrConflict.
//
// # Read cache
//
// A bounded in-memory LRU cache (Options.CacheSize, DefaultCacheSize = 16
// MiB: thousands of manifests of a few KiB, and a quarter of it for tag
// lists) holds what reads need most: tag → digest, manifest records with
// their payloads, repository records, blob links, and whole tag lists of
// repositories (up to about 20 thousand tags). A hot pull (ResolveManifest,
// GetManifest, ResolveTag, GetRepository) then opens no badger
// transaction, PutManifest skips reading links and repositories it finds
// cached, and a repeated full tag listing is served without iterating.
//
// The cache is exact: it never serves a moved or deleted tag, a deleted
// manifest or an outdated record. Every write that changes or deletes a
// cached key holds that key from before its transaction commits until
// after, and a read fills the cache only if no hold started or ended on
// the key's part of the cache since before its read transaction began
// (cache.go explains why that suffices). It relies on badger's directory
// lock: only this Store writes its database. A cache in each of several
// processes sharing a store would need validation against the store
// instead.
//
// # Contract details
//
// Where the storage contract leaves room, the Store:
//
//   - calls PutManifestRequest.CheckTag only for tags that point at another
//     digest; CheckTag and UpdateRepository's fn may run more than once
//     (transactions that conflict are retried) and must not call the Store;
//   - returns storage.ErrNotFound from Walk methods, TagsOf and
//     WalkReferrers for an unknown repository, and from TagsOf for an
//     unknown manifest;
//   - reads a page of entries per read transaction and calls walk
//     callbacks outside it, so callbacks may call the Store; iterators do
//     not prefetch values (records are small and inline in the LSM, and
//     badger would start a goroutine per item);
//   - returns times of manifest records in UTC;
//   - returns storage.ErrNotFound from CommitUpload for an upload without
//     data, and from reads given names that can never be stored;
//   - leaves upload sessions of a deleted repository to expire (their
//     CompleteUpload fails with storage.ErrNotFound);
//   - returns storage.ErrClosed from every method after Close.
package badgerstore
