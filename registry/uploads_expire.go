package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/storage"
)

// DefaultUploadExpiry is how long an upload session may go without a write
// before ExpireUploads removes it (Distribution's default is a week; ECR
// expires layer uploads after a day).
const DefaultUploadExpiry = 24 * time.Hour

// ExpireUploadsReport is what ExpireUploads did.
type ExpireUploadsReport struct {
	// Expired is the number of upload sessions removed, Bytes the bytes
	// they held.
	Expired int
	Bytes   int64
}

// ExpireUploads removes every upload session that has not been written to
// for longer than maxAge (DefaultUploadExpiry if maxAge is 0), with the
// bytes it received, and reports how many and how much. A client that
// writes to an expired upload afterwards gets ErrBlobUploadUnknown and
// starts again, as the distribution spec allows.
//
// Each session is re-read under its upload lock before it is removed, so a
// write that lands while the walk runs keeps its session. (The lock is per
// process: registries sharing a store must not expire uploads that another
// node is writing to within maxAge, which the age check already ensures
// unless clocks disagree by more than maxAge.) It needs the
// policy.ActionExpireUploads permission on the registry.
func (r *Registry) ExpireUploads(ctx context.Context, maxAge time.Duration) (ExpireUploadsReport, error) {
	var rep ExpireUploadsReport
	if err := r.beginRegistry(ctx, policy.ActionExpireUploads); err != nil {
		return rep, err
	}
	if maxAge < 0 {
		return rep, fmt.Errorf("negative upload expiry %v: %w", maxAge, ErrInvalidParameter)
	}
	if maxAge == 0 {
		maxAge = DefaultUploadExpiry
	}
	cutoff := r.now().Add(-maxAge)
	var ids []string
	err := r.store.WalkUploads(ctx, func(u storage.Upload) error {
		if u.UpdatedAt.Before(cutoff) {
			ids = append(ids, u.ID)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("list uploads: %w", err)
	}
	for _, id := range ids {
		n, ok, err := r.expireUpload(ctx, id, cutoff)
		if err != nil {
			return rep, err
		}
		if ok {
			rep.Expired++
			rep.Bytes += n
		}
	}
	if rep.Expired > 0 {
		r.log.InfoContext(ctx, "expired upload sessions", "count", rep.Expired, "bytes", rep.Bytes, "older_than", maxAge)
	}
	return rep, nil
}

// expireUpload removes one session if it is still older than cutoff.
func (r *Registry) expireUpload(ctx context.Context, id string, cutoff time.Time) (int64, bool, error) {
	unlock := r.lockUpload(id)
	defer unlock()
	u, err := r.store.GetUpload(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return 0, false, nil // completed or cancelled meanwhile
	}
	if err != nil {
		return 0, false, fmt.Errorf("upload %s: %w", id, err)
	}
	if !u.UpdatedAt.Before(cutoff) {
		return 0, false, nil // written to meanwhile
	}
	if err := r.store.DeleteUpload(ctx, id); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("delete upload %s: %w", id, err)
	}
	if err := r.store.AbortUpload(ctx, &u); err != nil {
		r.log.WarnContext(ctx, "discard bytes of expired upload", "upload_id", id, "err", err)
	}
	r.uploadLocks.Delete(id)
	return u.Offset, true, nil
}
