// Package replication defines how a Berth registry hands changes (pushes,
// deletes, tag deletes) to a Replicator that copies them to other
// registries. A registry without a Replicator (the default) replicates
// nothing. Implementations live in leaf packages.
package replication
