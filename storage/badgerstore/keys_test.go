package badgerstore

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
)

// dumpKeys returns every key under v1/, printable (NUL shown as "|").
func dumpKeys(t *testing.T, s *Store) []string {
	t.Helper()
	var keys []string
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("v1/")})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, string(bytes.ReplaceAll(it.Item().KeyCopy(nil), []byte{0}, []byte("|"))))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func countPrefix(keys []string, prefix string) int {
	n := 0
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

func testStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(Options{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func linkFake(t *testing.T, s *Store, repo string, n int) []digest.Digest {
	t.Helper()
	var ds []digest.Digest
	for i := range n {
		d := digest.FromString(fmt.Sprintf("%s blob %d", repo, i))
		if err := s.LinkBlob(context.Background(), repo, storage.BlobLink{Digest: d, Size: 1}); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	return ds
}

func TestKeyLayout(t *testing.T) {
	s := testStore(t)
	ctx := context.Background()
	if err := s.CreateRepository(ctx, storage.Repository{Name: "r"}); err != nil {
		t.Fatal(err)
	}
	blobs := linkFake(t, s, "r", 2)
	payload := []byte(`{"m":1}`)
	m := storage.Manifest{Digest: digest.FromBytes(payload), Blobs: blobs, Payload: payload, Subject: digest.FromString("subject")}
	if err := s.PutManifest(ctx, storage.PutManifestRequest{Repository: "r", Manifest: m, Tags: []string{"a", "b"}}); err != nil {
		t.Fatal(err)
	}
	keys := dumpKeys(t, s)
	want := map[string]int{
		"v1/repo/r": 1, "v1/m/r|": 1, "v1/mp/r|": 1, "v1/tag/r|": 2,
		"v1/mtag/r|" + string(m.Digest) + "|": 2, "v1/ref/r|" + string(m.Subject) + "|": 1,
		"v1/link/r|": 2, "v1/bref/": 2,
	}
	for p, n := range want {
		if got := countPrefix(keys, p); got != n {
			t.Errorf("%d keys with prefix %q, want %d; keys:\n%s", got, p, n, strings.Join(keys, "\n"))
		}
	}
	if got := countPrefix(keys, "v1/bref/"+string(blobs[0])+"|r|"+string(m.Digest)); got != 1 {
		t.Errorf("blob-reference entry for %s missing", blobs[0])
	}

	if err := s.DeleteManifest(ctx, "r", m.Digest); err != nil {
		t.Fatal(err)
	}
	keys = dumpKeys(t, s)
	for _, p := range []string{"v1/m/", "v1/mp/", "v1/tag/", "v1/mtag/", "v1/ref/", "v1/bref/"} {
		if n := countPrefix(keys, p); n != 0 {
			t.Errorf("after DeleteManifest: %d keys with prefix %q remain", n, p)
		}
	}
	if n := countPrefix(keys, "v1/link/"); n != 2 {
		t.Errorf("after DeleteManifest: %d links, want 2 (links stay)", n)
	}
}

// TestDeleteRepositoryBatches forces DeleteRepository to use many
// transactions and checks that it removes every key of the repository and
// none of its neighbour's.
func TestDeleteRepositoryBatches(t *testing.T) {
	old := deleteBatch
	deleteBatch = 7
	t.Cleanup(func() { deleteBatch = old })

	s := testStore(t)
	ctx := context.Background()
	for _, r := range []string{"big", "big/neighbour"} {
		if err := s.CreateRepository(ctx, storage.Repository{Name: r}); err != nil {
			t.Fatal(err)
		}
	}
	blobs := linkFake(t, s, "big", 5)
	linkFake(t, s, "big/neighbour", 1)
	for i := range 40 {
		payload := fmt.Appendf(nil, `{"n":%d}`, i)
		m := storage.Manifest{Digest: digest.FromBytes(payload), Blobs: blobs[:1+i%5], Payload: payload}
		if i%3 == 0 {
			m.Subject = digest.FromString("subject")
		}
		err := s.PutManifest(ctx, storage.PutManifestRequest{Repository: "big", Manifest: m, Tags: []string{fmt.Sprintf("t%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := s.DeleteRepository(ctx, "big", false)
	if err == nil || !strings.Contains(err.Error(), "manifests") {
		t.Fatalf("DeleteRepository(!force) = %v, want ErrNotEmpty", err)
	}
	if err := s.DeleteRepository(ctx, "big", true); err != nil {
		t.Fatal(err)
	}
	keys := dumpKeys(t, s)
	for _, k := range keys {
		if strings.Contains(k, "/big|") || k == "v1/repo/big" || strings.Contains(k, "|big|") {
			t.Errorf("key %q survived DeleteRepository", k)
		}
	}
	if n := countPrefix(keys, "v1/link/big/neighbour|"); n != 1 {
		t.Errorf("neighbour lost its link: %d", n)
	}
	if n := countPrefix(keys, "v1/repo/big/neighbour"); n != 1 {
		t.Errorf("neighbour record missing")
	}
}

func TestSchemaVersionChecked(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(schemaKey), []byte("99")) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "version") {
		t.Fatalf("New on a future layout: error = %v, want a version error", err)
	}
}

// runGroup runs fns as one group, as a leader would, and returns their
// results.
func runGroup(s *Store, fns ...func(*badger.Txn) error) []writeResult {
	ops := make([]*writeOp, len(fns))
	for i, fn := range fns {
		ops[i] = &writeOp{ctx: context.Background(), fn: fn, done: make(chan writeResult, 1)}
	}
	s.commitGroup(ops)
	res := make([]writeResult, len(ops))
	for i, op := range ops {
		res[i] = <-op.done
	}
	return res
}

func setKey(k string, v []byte) func(*badger.Txn) error {
	return func(txn *badger.Txn) error { return txn.Set([]byte(k), v) }
}

func getKey(t *testing.T, s *Store, k string) ([]byte, bool) {
	t.Helper()
	var v []byte
	err := s.view(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(k))
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if err == badger.ErrKeyNotFound {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return v, true
}

func TestGroupIsolatesFailures(t *testing.T) {
	s := testStore(t)
	boom := fmt.Errorf("boom")
	res := runGroup(s,
		setKey("g/1", []byte("a")),
		func(txn *badger.Txn) error {
			// Writes, then fails: its write must not be committed.
			if err := txn.Set([]byte("g/bad"), []byte("x")); err != nil {
				return err
			}
			return boom
		},
		func(txn *badger.Txn) error {
			// Sees the first op's write, as in a serial run.
			if _, err := txn.Get([]byte("g/1")); err != nil {
				return fmt.Errorf("earlier write not visible: %w", err)
			}
			return txn.Set([]byte("g/3"), []byte("c"))
		},
		func(*badger.Txn) error { panic("kaboom") },
		setKey("g/5", []byte("e")),
	)
	if res[0].err != nil || res[2].err != nil || res[4].err != nil {
		t.Fatalf("successful ops failed: %+v", res)
	}
	if res[1].err != boom {
		t.Errorf("failing op error = %v, want boom unchanged", res[1].err)
	}
	if res[3].panicked == nil || res[3].panicked.val != "kaboom" {
		t.Errorf("panicking op result = %+v, want the panic", res[3])
	}
	for _, k := range []string{"g/1", "g/3", "g/5"} {
		if _, ok := getKey(t, s, k); !ok {
			t.Errorf("%s not committed", k)
		}
	}
	if _, ok := getKey(t, s, "g/bad"); ok {
		t.Error("write of the failed op was committed")
	}
}

func TestGroupSplitsTooBig(t *testing.T) {
	s := testStore(t)
	// Each value is inline (below ValueThreshold); together they exceed
	// one transaction (15% of the 8 MiB memtable).
	v := bytes.Repeat([]byte("x"), 60<<10)
	var fns []func(*badger.Txn) error
	for i := range 40 {
		fns = append(fns, setKey(fmt.Sprintf("big/%02d", i), v))
	}
	for i, r := range runGroup(s, fns...) {
		if r.err != nil || r.panicked != nil {
			t.Fatalf("op %d: %+v", i, r)
		}
	}
	for i := range 40 {
		if _, ok := getKey(t, s, fmt.Sprintf("big/%02d", i)); !ok {
			t.Fatalf("big/%02d not committed", i)
		}
	}
}

func TestWritePanicReachesCaller(t *testing.T) {
	s := testStore(t)
	if err := s.CreateRepository(context.Background(), storage.Repository{Name: "r"}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), "in fn") {
			t.Errorf("recover() = %v, want the panic of fn", v)
		}
	}()
	_ = s.UpdateRepository(context.Background(), "r", func(*storage.Repository) error { panic("in fn") })
}
