package replication

import (
	"context"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// Event actions.
const (
	ActionPush      = "PUSH"
	ActionDelete    = "DELETE"
	ActionTagDelete = "TAG_DELETE"
)

// Event reports a change in a repository that a replicator may copy.
type Event struct {
	Action     string        `json:"action"`
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest,omitempty"`
	Tag        string        `json:"tag,omitempty"`
	MediaType  string        `json:"mediaType,omitempty"`
	Time       time.Time     `json:"time"`
}

// Replicator receives changes to copy elsewhere. Replicate is called after
// the change is durable, on the request's goroutine: implementations must
// only enqueue and return quickly, and must be safe for concurrent use.
type Replicator interface {
	Replicate(ctx context.Context, ev Event) error
}
