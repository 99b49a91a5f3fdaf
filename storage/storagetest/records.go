package storagetest

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/berth-dev/berth/storage"
)

// recordTests check storage.RecordStore; stores without it skip them.
var recordTests = []test{
	{"GetPutDelete", testRecordGetPutDelete},
	{"Walk", testRecordWalk},
	{"Bounds", testRecordBounds},
}

func recordStore(t *testing.T, s storage.Storage) storage.RecordStore {
	t.Helper()
	rs, ok := s.(storage.RecordStore)
	if !ok {
		t.Skip("store does not implement storage.RecordStore")
	}
	return rs
}

func testRecordGetPutDelete(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	rs := recordStore(t, s)
	_, err := rs.GetRecord(ctx, "policy/registry")
	wantErr(t, "GetRecord(missing)", err, storage.ErrNotFound)
	wantErr(t, "DeleteRecord(missing)", rs.DeleteRecord(ctx, "policy/registry"), storage.ErrNotFound)

	v := []byte(`{"Version":"2012-10-17"}`)
	must(t, "PutRecord", rs.PutRecord(ctx, "policy/registry", v))
	v[0] = 'X' // the store must have copied it
	got, err := rs.GetRecord(ctx, "policy/registry")
	must(t, "GetRecord", err)
	if string(got) != `{"Version":"2012-10-17"}` {
		t.Fatalf("GetRecord = %q", got)
	}
	got[0] = 'Y' // and must hand out copies
	got, _ = rs.GetRecord(ctx, "policy/registry")
	if got[0] != '{' {
		t.Fatal("GetRecord returned the stored slice")
	}
	must(t, "PutRecord(replace)", rs.PutRecord(ctx, "policy/registry", []byte("v2")))
	got, err = rs.GetRecord(ctx, "policy/registry")
	must(t, "GetRecord", err)
	if string(got) != "v2" {
		t.Fatalf("GetRecord after replace = %q", got)
	}
	must(t, "PutRecord(empty)", rs.PutRecord(ctx, "empty", nil))
	got, err = rs.GetRecord(ctx, "empty")
	must(t, "GetRecord(empty)", err)
	if len(got) != 0 {
		t.Fatalf("GetRecord(empty) = %q", got)
	}
	must(t, "DeleteRecord", rs.DeleteRecord(ctx, "policy/registry"))
	_, err = rs.GetRecord(ctx, "policy/registry")
	wantErr(t, "GetRecord(deleted)", err, storage.ErrNotFound)

	// Records are not repository content.
	createRepo(t, s, "app")
	must(t, "PutRecord", rs.PutRecord(ctx, "scan/app", []byte("r")))
	must(t, "DeleteRepository", s.DeleteRepository(ctx, "app", true))
	if _, err := rs.GetRecord(ctx, "scan/app"); err != nil {
		t.Fatalf("DeleteRepository removed a record: %v", err)
	}
}

func testRecordWalk(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	rs := recordStore(t, s)
	keys := []string{"b/2", "a/1", "b/1", "b", "c", "b/10"}
	for _, k := range keys {
		must(t, "PutRecord "+k, rs.PutRecord(ctx, k, []byte("v"+k)))
	}
	var got []string
	must(t, "WalkRecords", rs.WalkRecords(ctx, "b/", func(k string, v []byte) error {
		if string(v) != "v"+k {
			t.Errorf("value of %q = %q", k, v)
		}
		got = append(got, k)
		return nil
	}))
	if strings.Join(got, ",") != "b/1,b/10,b/2" {
		t.Fatalf("WalkRecords(b/) = %v", got)
	}
	got = nil
	must(t, "WalkRecords(all)", rs.WalkRecords(ctx, "", func(k string, _ []byte) error {
		got = append(got, k)
		if len(got) == 2 {
			return storage.SkipAll
		}
		return nil
	}))
	if strings.Join(got, ",") != "a/1,b" {
		t.Fatalf("WalkRecords(\"\") with SkipAll = %v", got)
	}
	boom := errors.New("boom")
	wantErr(t, "WalkRecords(error)", rs.WalkRecords(ctx, "", func(string, []byte) error { return boom }), boom)
	// A callback may write to the store.
	must(t, "WalkRecords(write)", rs.WalkRecords(ctx, "b/", func(k string, _ []byte) error {
		return rs.DeleteRecord(ctx, k)
	}))
	n := 0
	must(t, "WalkRecords", rs.WalkRecords(ctx, "b/", func(string, []byte) error { n++; return nil }))
	if n != 0 {
		t.Fatalf("%d records left under b/", n)
	}
}

func testRecordBounds(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	rs := recordStore(t, s)
	for _, k := range []string{"", "a\x00b", "line\nbreak", "é", strings.Repeat("k", storage.MaxRecordKey+1)} {
		wantErr(t, "PutRecord("+k+")", rs.PutRecord(ctx, k, []byte("v")), storage.ErrInvalidRecord)
		_, err := rs.GetRecord(ctx, k)
		wantErr(t, "GetRecord("+k+")", err, storage.ErrInvalidRecord)
	}
	must(t, "PutRecord(longest key)", rs.PutRecord(ctx, strings.Repeat("k", storage.MaxRecordKey), []byte("v")))
	big := bytes.Repeat([]byte("x"), storage.MaxRecordSize+1)
	wantErr(t, "PutRecord(too big)", rs.PutRecord(ctx, "big", big), storage.ErrInvalidRecord)
	if _, err := rs.GetRecord(ctx, "big"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("oversized record stored: %v", err)
	}
}
