// Package registry is the composed Berth registry: a Registry type over a
// storage.Storage, with an ECR-shaped Go API that an embedding program calls
// directly, and that package httpapi serves over the OCI Distribution API.
//
// # Composition
//
// New(store, opts...) takes the required Storage and optional parts:
// WithAuthorizer (policy.Authorizer, default policy.AllowAll), WithScanner
// (scan.Scanner), WithReplicator (replication.Replicator), WithListener for
// events, WithLogger (silent by default) and WithClock. New validates and
// starts no goroutines; Close is idempotent. The Storage is owned by the
// caller, who closes it after the Registry.
//
// Every method takes a context first; the principal it carries
// (policy.WithPrincipal) is passed to the Authorizer together with the ECR
// action name of the operation. Errors wrap the sentinels in errors.go and
// are tested with errors.Is.
//
// # Data model
//
// Repositories are records (CreateRepository, or create-on-push, on by
// default). Blobs are content-addressed and stored once, but a repository
// reads only blobs pushed to it or mounted into it (MountBlob). Uploads are
// resumable sessions whose state, including the running hash, lives in the
// metadata store, so a blob is hashed once while it streams. A manifest push
// (PutImage) checks that the config, layers and child manifests are in the
// repository and writes manifest, references and tags in one transaction;
// tag mutability (MUTABLE, IMMUTABLE and the *_WITH_EXCLUSION forms) is
// enforced inside it.
//
// Deleting a manifest removes its tags; deleting a tag leaves the manifest.
// Nothing is garbage-collected here: manifests keep their references to
// blobs and child manifests so that a collector can work online.
//
// # Scanning
//
// With WithScanner, images are scanned as in ECR: on push when the
// repository's ScanOnPush is set or a SCAN_ON_PUSH or CONTINUOUS_SCAN rule
// of the registry's scanning configuration (PutRegistryScanningConfiguration)
// matches it, and on request (StartImageScan). A push only enqueues (never
// blocking) into a bounded queue (WithScanQueueSize), coalescing requests
// for the same image; when the queue is full the image's status is
// LIMIT_EXCEEDED and the scan is queued again once the queue has drained,
// while StartImageScan fails with ErrScanLimitExceeded. Scans run
// on WithScanWorkers workers started by StartScanning and stopped by Close,
// which waits for them and keeps queued scans as PENDING for the next
// start. Reports (DescribeImageScanFindings, and the summary in
// DescribeImages) are kept per digest in the store's storage.RecordStore
// (in memory if it has none) and removed with the image. RunContinuousScan
// re-matches stored inventories when the Scanner's vulnerability data
// changes. An optional ScanGate (WithScanGate) may deny manifest GETs by
// scan results, with an error wrapping ErrImagePullDenied and ErrDenied.
// Each completed scan attaches an SPDX SBOM (from the scanner's inventory)
// and the report to the image as OCI referrers (package scan/sbom), which
// replace those of the previous scan; WithScanAttachments(false) turns
// this off.
//
// Reference: https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md
package registry
