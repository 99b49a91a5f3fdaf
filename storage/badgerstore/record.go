package badgerstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
)

// Manifest records.
//
// A manifest record (v1/m/...) is written in a compact binary form, which
// is about half the size of its JSON and several times faster to encode
// and decode. Layout version 1 databases hold JSON records, which start
// with '{'; they stay readable, so a database is upgraded in place (see
// checkSchema) and its records are rewritten in the new form only when
// they are next written (RecordPull).
//
// The binary form is recordBinary, then the fields of storage.Manifest
// but Payload, in order: strings and lists as uvarint lengths followed by
// their elements, integers as varints, times as varint Unix seconds and
// uvarint nanoseconds (read back in UTC), annotations sorted by key.

// recordBinary is the first byte of a binary manifest record.
const recordBinary = 0x01

var errBadRecord = errors.New("badgerstore: malformed manifest record")

// encodeManifest returns the binary record of m, without its payload.
func encodeManifest(m *storage.Manifest) []byte {
	n := 1 + 10*8 + len(m.Digest) + len(m.MediaType) + len(m.ArtifactType) +
		len(m.ConfigMediaType) + len(m.Subject)
	for k, v := range m.Annotations {
		n += len(k) + len(v) + 4
	}
	for _, d := range m.Blobs {
		n += len(d) + 2
	}
	for _, d := range m.Manifests {
		n += len(d) + 2
	}
	b := make([]byte, 0, n)
	b = append(b, recordBinary)
	b = appendString(b, string(m.Digest))
	b = appendString(b, m.MediaType)
	b = appendString(b, m.ArtifactType)
	b = appendString(b, m.ConfigMediaType)
	b = binary.AppendVarint(b, m.Size)
	b = binary.AppendVarint(b, m.ImageSize)
	b = appendString(b, string(m.Subject))
	b = binary.AppendUvarint(b, uint64(len(m.Annotations)))
	for _, k := range slices.Sorted(maps.Keys(m.Annotations)) {
		b = appendString(b, k)
		b = appendString(b, m.Annotations[k])
	}
	b = appendDigests(b, m.Blobs)
	b = appendDigests(b, m.Manifests)
	b = appendTime(b, m.PushedAt)
	b = appendTime(b, m.LastPulledAt)
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendDigests(b []byte, ds []digest.Digest) []byte {
	b = binary.AppendUvarint(b, uint64(len(ds)))
	for _, d := range ds {
		b = appendString(b, string(d))
	}
	return b
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// decodeManifest decodes a manifest record, binary or JSON, into m. The
// result shares no memory with b: the strings of a binary record are
// slices of one copy of it.
func decodeManifest(b []byte, m *storage.Manifest) error {
	if len(b) > 0 && b[0] == '{' {
		return json.Unmarshal(b, m)
	}
	if len(b) == 0 || b[0] != recordBinary {
		return errBadRecord
	}
	d := recordDecoder{s: string(b[1:])}
	*m = storage.Manifest{
		Digest:          digest.Digest(d.string()),
		MediaType:       d.string(),
		ArtifactType:    d.string(),
		ConfigMediaType: d.string(),
		Size:            d.varint(),
		ImageSize:       d.varint(),
		Subject:         digest.Digest(d.string()),
	}
	if n := d.count(); n > 0 {
		m.Annotations = make(map[string]string, n)
		for range n {
			k := d.string()
			m.Annotations[k] = d.string()
		}
	}
	m.Blobs = d.digests()
	m.Manifests = d.digests()
	m.PushedAt = d.time()
	m.LastPulledAt = d.time()
	if d.err != nil || d.s != "" {
		return fmt.Errorf("%w (%d bytes)", errBadRecord, len(b))
	}
	return nil
}

// recordDecoder reads a binary record from s; the first error sticks.
type recordDecoder struct {
	s   string
	err error
}

func (d *recordDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	for i := 0; i < len(d.s) && i < binary.MaxVarintLen64; i++ {
		c := d.s[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			d.s = d.s[i+1:]
			return v
		}
	}
	d.err = errBadRecord
	return 0
}

func (d *recordDecoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// count reads a number of elements, each at least one byte long.
func (d *recordDecoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.s)) {
		d.err = errBadRecord
		return 0
	}
	return int(n)
}

func (d *recordDecoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.s)) {
		d.err = errBadRecord
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}

func (d *recordDecoder) digests() []digest.Digest {
	n := d.count()
	if n == 0 {
		return nil
	}
	ds := make([]digest.Digest, n)
	for i := range ds {
		ds[i] = digest.Digest(d.string())
	}
	return ds
}

func (d *recordDecoder) time() time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if nsec >= 1e9 {
		d.err = errBadRecord
		return time.Time{}
	}
	if sec == zeroTimeUnix && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// zeroTimeUnix is time.Time{}.Unix().
var zeroTimeUnix = time.Time{}.Unix()

// getManifest decodes the record under k. It returns badger.ErrKeyNotFound
// unchanged, like getJSON.
func getManifest(txn *badger.Txn, k []byte, m *storage.Manifest) error {
	item, err := txn.Get(k)
	if err != nil {
		return err
	}
	return item.Value(func(v []byte) error { return decodeManifest(v, m) })
}

// setManifest stores m's record (without its payload) under k.
func setManifest(txn *badger.Txn, k []byte, m *storage.Manifest) error {
	return txn.Set(k, encodeManifest(m))
}
