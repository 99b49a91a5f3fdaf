package registry_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage/memory"
)

func TestExpireUploads(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	reg := newRegistry(t, registry.WithClock(clock))

	start := func(data string) string {
		t.Helper()
		st, err := reg.StartUpload(ctx, "app")
		if err != nil {
			t.Fatal(err)
		}
		if data != "" {
			if _, err := reg.WriteUpload(ctx, "app", st.ID, 0, strings.NewReader(data)); err != nil {
				t.Fatal(err)
			}
		}
		return st.ID
	}
	old := start("0123456789")
	advance(23 * time.Hour)
	younger := start("abc")
	advance(2 * time.Hour) // old: 25 h without a write, younger: 2 h
	fresh := start("")

	if _, err := reg.ExpireUploads(ctx, -time.Second); !errors.Is(err, registry.ErrInvalidParameter) {
		t.Errorf("ExpireUploads(negative) error = %v", err)
	}
	rep, err := reg.ExpireUploads(ctx, 0) // the default, 24 h
	if err != nil {
		t.Fatal(err)
	}
	if rep.Expired != 1 || rep.Bytes != 10 {
		t.Errorf("ExpireUploads(default) = %+v, want the 10-byte session only", rep)
	}
	if _, err := reg.UploadStatus(ctx, "app", old); !errors.Is(err, registry.ErrBlobUploadUnknown) {
		t.Errorf("UploadStatus(expired) error = %v", err)
	}
	if _, err := reg.WriteUpload(ctx, "app", old, 10, strings.NewReader("more")); !errors.Is(err, registry.ErrBlobUploadUnknown) {
		t.Errorf("WriteUpload(expired) error = %v", err)
	}
	for _, id := range []string{younger, fresh} {
		if _, err := reg.UploadStatus(ctx, "app", id); err != nil {
			t.Errorf("UploadStatus(%s) error = %v: a live session was expired", id, err)
		}
	}
	rep, err = reg.ExpireUploads(ctx, time.Hour)
	if err != nil || rep.Expired != 1 || rep.Bytes != 3 {
		t.Errorf("ExpireUploads(1h) = %+v, %v; want the 2-hour-old session (3 bytes)", rep, err)
	}
	if _, err := reg.UploadStatus(ctx, "app", fresh); err != nil {
		t.Errorf("UploadStatus(fresh) error = %v", err)
	}
}

func TestExpireUploadsAuthorization(t *testing.T) {
	ctx := policy.WithPrincipal(context.Background(), &policy.Principal{ID: "u1", Name: "alice"})
	var asked []string
	reg, err := registry.New(memory.New(), registry.WithAuthorizer(policy.AuthorizerFunc(func(_ context.Context, in policy.Input) (policy.Decision, error) {
		asked = append(asked, in.Action)
		return policy.Decision{Allow: false}, nil
	})))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if _, err := reg.ExpireUploads(ctx, 0); !errors.Is(err, registry.ErrDenied) {
		t.Errorf("ExpireUploads(denied) error = %v", err)
	}
	if len(asked) != 1 || asked[0] != policy.ActionExpireUploads {
		t.Errorf("actions asked = %v", asked)
	}
}
