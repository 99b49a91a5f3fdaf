package inventory

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
)

// LayerContents is what ReadLayer keeps of one layer: the parsed files of
// interest, the symbolic links, the whiteouts and a hash of every
// non-directory path. Values are immutable once returned; a LayerCache may
// share them between images.
type LayerContents struct {
	// Digest is the layer's digest.
	Digest digest.Digest `json:"digest"`
	// Files are the files of interest found in the layer, sorted by Path.
	Files []File `json:"files,omitempty"`
	// Symlinks maps the (cleaned) path of each symbolic link to its target,
	// as written in the layer.
	Symlinks map[string]string `json:"symlinks,omitempty"`
	// Whiteouts are the paths this layer deletes from lower layers.
	Whiteouts []string `json:"whiteouts,omitempty"`
	// OpaqueDirs are the directories whose lower-layer contents this layer
	// hides; "." is the root.
	OpaqueDirs []string `json:"opaqueDirs,omitempty"`
	// PathHashes are the sorted FNV-1a 64-bit hashes of the paths of all
	// non-directory entries (files, links, devices), except whiteouts.
	// Merge uses them to drop lower-layer files replaced by entries that
	// are not of interest.
	PathHashes []uint64 `json:"pathHashes,omitempty"`
	// Warnings describe entries that were skipped.
	Warnings []string `json:"warnings,omitempty"`
	// UncompressedSize is the number of uncompressed bytes read.
	UncompressedSize int64 `json:"uncompressedSize"`
}

// File is a file of interest and what was found in it.
type File struct {
	// Path is the file's path relative to the image root.
	Path string `json:"path"`
	// Packages are the packages the file lists or is. The Ecosystem of OS
	// packages is filled in by Merge, once the image's OS is known.
	Packages []Package `json:"packages,omitempty"`
	// OS is set for os-release files.
	OS *OS `json:"os,omitempty"`
}

// Size estimates the memory held by c, in bytes.
func (c *LayerContents) Size() int64 {
	n := int64(256 + 8*len(c.PathHashes))
	for _, f := range c.Files {
		n += int64(64 + len(f.Path))
		for _, p := range f.Packages {
			n += int64(192 + len(p.Name) + len(p.Version) + len(p.SourceName) + len(p.SourceVersion) + len(p.Replaces))
		}
		if f.OS != nil {
			n += 256
		}
	}
	for k, v := range c.Symlinks {
		n += int64(48 + len(k) + len(v))
	}
	for _, s := range c.Whiteouts {
		n += int64(16 + len(s))
	}
	for _, s := range c.OpaqueDirs {
		n += int64(16 + len(s))
	}
	for _, s := range c.Warnings {
		n += int64(16 + len(s))
	}
	return n
}

// maxWarnings bounds the warnings kept per layer.
const maxWarnings = 100

// maxZstdWindow bounds the window a zstd frame may ask for (zstd --long=27
// uses 128 MiB).
const maxZstdWindow = 128 << 20

var (
	gzipPool sync.Pool // *gzip.Reader
	zstdPool sync.Pool // *zstd.Decoder
	bufPool  = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}
)

// ReadLayer reads one layer and returns its contents, from opts.Cache when
// it holds the layer's digest (and adding it there otherwise).
//
// It returns an error wrapping ErrUnsupportedLayer when the media type is
// not a tar layer or the content is not a tar archive, ErrCorruptLayer when
// the compressed stream or the archive is damaged, ErrLayerTooLarge when
// the layer exceeds opts.MaxLayerSize or opts.MaxRatio, or the error of
// l.Open, of reading the blob, or of ctx.
func ReadLayer(ctx context.Context, l Layer, opts Options) (*LayerContents, error) {
	opts = opts.withDefaults()
	if opts.Cache != nil && l.Digest != "" {
		if c, ok := opts.Cache.Get(l.Digest); ok {
			return c, nil
		}
	}
	if !isTarMediaType(l.MediaType) {
		return nil, fmt.Errorf("%w: media type %q", ErrUnsupportedLayer, l.MediaType)
	}
	if l.Open == nil {
		return nil, errors.New("inventory: Layer.Open is nil")
	}
	rc, err := l.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	c, err := readLayer(ctx, l.Digest, rc, opts)
	if err != nil {
		return nil, err
	}
	if opts.Cache != nil && l.Digest != "" {
		opts.Cache.Add(l.Digest, c)
	}
	return c, nil
}

// isTarMediaType accepts an empty media type and any media type naming a
// tar archive (OCI and Docker layers, compressed or not).
func isTarMediaType(mt string) bool {
	mt, _, _ = strings.Cut(mt, ";")
	mt = strings.TrimSpace(mt)
	return mt == "" || strings.Contains(mt, ".tar") || strings.HasSuffix(mt, "/tar") || strings.HasSuffix(mt, "+tar")
}

func readLayer(ctx context.Context, dgst digest.Digest, r io.Reader, opts Options) (*LayerContents, error) {
	raw := &countingReader{r: r}
	br := bufPool.Get().(*bufio.Reader)
	br.Reset(raw)
	defer func() { br.Reset(nil); bufPool.Put(br) }()

	w := &walker{
		ctx:      ctx,
		opts:     opts,
		raw:      raw,
		files:    make(map[string]*File),
		symlinks: make(map[string]string),
		c:        &LayerContents{Digest: dgst},
	}
	var src io.Reader = br
	magic, _ := br.Peek(4)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		gz, _ := gzipPool.Get().(*gzip.Reader)
		if gz == nil {
			gz = new(gzip.Reader)
		}
		defer gzipPool.Put(gz)
		if err := gz.Reset(br); err != nil {
			return nil, w.classify(err)
		}
		gz.Multistream(true)
		src = gz
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zd, _ := zstdPool.Get().(*zstd.Decoder)
		if zd == nil {
			var err error
			zd, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderLowmem(false))
			if err != nil {
				return nil, err
			}
		}
		defer func() { _ = zd.Reset(nil); zstdPool.Put(zd) }()
		if err := zd.Reset(br); err != nil {
			return nil, w.classify(err)
		}
		src = zd
	}
	w.guard = &guardReader{r: src, raw: raw, ctx: ctx, max: opts.MaxLayerSize, ratio: opts.MaxRatio, grace: opts.RatioGrace}
	if err := w.walk(tar.NewReader(w.guard)); err != nil {
		return nil, err
	}
	// Drain what follows the end of the archive so that the compressed
	// stream's checksum is verified and the caps still apply. Bytes after
	// the last gzip member that do not start another one are tolerated,
	// as other layer readers ignore them.
	if _, err := io.Copy(io.Discard, w.guard); err != nil && !(errors.Is(err, gzip.ErrHeader) && w.raw.err == nil) {
		return nil, w.classify(err)
	}
	return w.finish(), nil
}

// countingReader counts the bytes read from the blob and keeps its first
// error other than io.EOF.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// guardReader enforces the size and ratio caps on the uncompressed stream,
// checks ctx now and then, and keeps the first error other than io.EOF of
// the stream below the tar reader.
type guardReader struct {
	r                 io.Reader
	raw               *countingReader
	ctx               context.Context
	n, nextCheck      int64
	max, ratio, grace int64
	err               error
}

func (g *guardReader) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if room := g.max - g.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := g.r.Read(p)
	g.n += int64(n)
	switch {
	case g.n > g.max:
		g.err = fmt.Errorf("%w: more than %d uncompressed bytes", ErrLayerTooLarge, g.max)
	case g.ratio > 0 && g.n > g.grace && g.n/max(g.raw.n, 1) > g.ratio:
		g.err = fmt.Errorf("%w: compression ratio above %d:1 (%d bytes from %d)", ErrLayerTooLarge, g.ratio, g.n, g.raw.n)
	case g.n >= g.nextCheck:
		g.nextCheck = g.n + 4<<20
		if cerr := g.ctx.Err(); cerr != nil {
			g.err = cerr
		}
	}
	if g.err == nil && err != nil && err != io.EOF {
		g.err = err
	}
	if g.err != nil {
		return n, g.err
	}
	return n, err
}

// walker holds the state of reading one layer.
type walker struct {
	ctx      context.Context
	opts     Options
	raw      *countingReader
	guard    *guardReader
	c        *LayerContents
	files    map[string]*File
	symlinks map[string]string
	hashes   []uint64
	entries  int
	unsafe   int
	scratch  []byte
}

// classify turns an error met while reading the layer into the package's
// error vocabulary.
func (w *walker) classify(err error) error {
	if cerr := w.ctx.Err(); cerr != nil {
		return cerr
	}
	if w.raw.err != nil {
		return fmt.Errorf("reading layer blob: %w", w.raw.err)
	}
	if w.guard != nil && w.guard.err != nil {
		if errors.Is(w.guard.err, ErrLayerTooLarge) {
			return w.guard.err
		}
		return fmt.Errorf("%w: %v", ErrCorruptLayer, w.guard.err)
	}
	if w.guard == nil {
		// The compression header itself is damaged.
		return fmt.Errorf("%w: %v", ErrCorruptLayer, err)
	}
	if w.entries == 0 {
		return fmt.Errorf("%w: not a tar archive: %v", ErrUnsupportedLayer, err)
	}
	return fmt.Errorf("%w: %v", ErrCorruptLayer, err)
}

func (w *walker) warnf(format string, args ...any) {
	if len(w.c.Warnings) < maxWarnings {
		w.c.Warnings = append(w.c.Warnings, fmt.Sprintf(format, args...))
	} else if len(w.c.Warnings) == maxWarnings {
		w.c.Warnings = append(w.c.Warnings, "further warnings omitted")
	}
}

func (w *walker) walk(tr *tar.Reader) error {
	for {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && hdr != nil) {
			return w.classify(err)
		}
		w.entries++
		p, ok := cleanPath(hdr.Name)
		if !ok {
			if n := strings.TrimLeft(hdr.Name, "/"); n != "" && path.Clean(n) != "." {
				w.unsafe++ // not the root directory entry
			}
			continue
		}
		dir, base := path.Dir(p), path.Base(p)
		if strings.HasPrefix(base, ".wh.") {
			switch {
			case base == ".wh..wh..opq":
				w.c.OpaqueDirs = append(w.c.OpaqueDirs, dir)
			case strings.HasPrefix(base, ".wh..wh."):
				// Other AUFS metadata (.wh..wh.plnk, …): ignored.
			default:
				w.c.Whiteouts = append(w.c.Whiteouts, path.Join(dir, base[len(".wh."):]))
			}
			continue
		}
		if hdr.Typeflag == tar.TypeDir {
			continue
		}
		// A later entry at the same path replaces an earlier one.
		delete(w.files, p)
		delete(w.symlinks, p)
		w.hashes = append(w.hashes, hashPath(p))
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			if len(w.symlinks) >= w.opts.MaxSymlinks {
				w.warnf("%s: symbolic link ignored: more than %d in the layer", p, w.opts.MaxSymlinks)
				continue
			}
			w.symlinks[p] = hdr.Linkname
		case tar.TypeLink:
			if t, ok := cleanPath(hdr.Linkname); ok {
				if f, ok := w.files[t]; ok {
					w.files[p] = f.withPath(p)
				}
			}
		case tar.TypeReg:
			if err := w.detect(p, hdr, tr); err != nil {
				return w.classify(err)
			}
		}
	}
}

func (w *walker) finish() *LayerContents {
	c := w.c
	if w.unsafe > 0 {
		w.warnf("%d entries with absolute or escaping names skipped", w.unsafe)
	}
	for _, f := range w.files {
		c.Files = append(c.Files, *f)
	}
	sort.Slice(c.Files, func(i, j int) bool { return c.Files[i].Path < c.Files[j].Path })
	if len(w.symlinks) > 0 {
		c.Symlinks = w.symlinks
	}
	slices.Sort(w.hashes)
	c.PathHashes = slices.Compact(w.hashes)
	c.UncompressedSize = w.guard.n
	return c
}

// withPath returns a copy of f found at another path (a hard link).
func (f *File) withPath(p string) *File {
	g := &File{Path: p, OS: f.OS}
	if f.OS != nil {
		os := *f.OS
		os.Path = p
		g.OS = &os
	}
	for _, pkg := range f.Packages {
		pkg.Path = p
		g.Packages = append(g.Packages, pkg)
	}
	return g
}

// cleanPath turns a tar entry name into a clean path relative to the root.
// Absolute names are made relative; names that escape the root through
// ".." and the root itself are rejected.
func cleanPath(name string) (string, bool) {
	name = strings.TrimLeft(name, "/")
	if name == "" {
		return "", false
	}
	p := path.Clean(name)
	if p == "." || p == ".." || strings.HasPrefix(p, "../") {
		return "", false
	}
	return p, true
}

// hashPath is FNV-1a, 64 bits.
func hashPath(p string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(p); i++ {
		h ^= uint64(p[i])
		h *= 1099511628211
	}
	return h
}

// detect parses the regular file at p when it is a file of interest. It
// returns only errors of the underlying stream.
func (w *walker) detect(p string, hdr *tar.Header, r io.Reader) error {
	dir, base := path.Dir(p), path.Base(p)
	switch {
	case p == "var/lib/dpkg/status" || (dir == "var/lib/dpkg/status.d" && !strings.HasPrefix(base, ".") && !strings.Contains(base, ".md5sums")):
		b, err := w.readFile(p, hdr, r, w.opts.MaxDatabaseSize)
		if b == nil {
			return err
		}
		w.addPackages(p, hdr, parseDpkgStatus(b, p != "var/lib/dpkg/status"))
	case p == "lib/apk/db/installed":
		b, err := w.readFile(p, hdr, r, w.opts.MaxDatabaseSize)
		if b == nil {
			return err
		}
		w.addPackages(p, hdr, parseApkInstalled(b))
	case p == "etc/os-release" || p == "usr/lib/os-release":
		b, err := w.readFile(p, hdr, r, w.opts.MaxManifestSize)
		if b == nil {
			return err
		}
		if os := parseOSRelease(b); os != nil {
			os.Path = p
			os.Layer = w.c.Digest
			w.files[p] = &File{Path: p, OS: os}
		}
	case isPythonMetadata(dir, base):
		// Only the header matters; read a prefix of long files.
		b, err := w.readPrefix(r, min(hdr.Size, w.opts.MaxManifestSize))
		if err != nil {
			return err
		}
		if pkg, ok := parsePythonMetadata(b); ok {
			w.addPackages(p, hdr, []Package{pkg})
		}
	case base == "package.json" && isNPMPackageRoot(dir):
		b, err := w.readFile(p, hdr, r, w.opts.MaxManifestSize)
		if b == nil {
			return err
		}
		if pkg, ok := parsePackageJSON(b); ok {
			w.addPackages(p, hdr, []Package{pkg})
		}
	case hdr.Mode&0o111 != 0 && hdr.Size >= 4:
		return w.detectBinary(p, hdr, r)
	}
	return nil
}

func (w *walker) addPackages(p string, hdr *tar.Header, pkgs []Package) {
	for i := range pkgs {
		pkgs[i].Path = p
		pkgs[i].Layer = w.c.Digest
	}
	w.files[p] = &File{Path: p, Packages: pkgs}
}

// readFile reads a whole file of at most limit bytes. It returns nil bytes
// (and a warning) for larger files, and an error only when the stream
// fails.
func (w *walker) readFile(p string, hdr *tar.Header, r io.Reader, limit int64) ([]byte, error) {
	if hdr.Size > limit {
		w.warnf("%s: skipped: %d bytes, more than %d", p, hdr.Size, limit)
		return nil, nil
	}
	b, err := w.readPrefix(r, hdr.Size)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// readPrefix reads n bytes into a new slice, growing it as data arrives so
// that a lying header cannot make it allocate much.
func (w *walker) readPrefix(r io.Reader, n int64) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(min(n, 64<<10)))
	if _, err := io.CopyN(&buf, r, n); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

// isExecutableMagic reports whether b starts like an ELF, PE or Mach-O
// file, the formats debug/buildinfo reads.
func isExecutableMagic(b []byte) bool {
	switch {
	case bytes.HasPrefix(b, []byte("\x7fELF")), bytes.HasPrefix(b, []byte("MZ")):
		return true
	case bytes.HasPrefix(b, []byte{0xfe, 0xed, 0xfa, 0xce}), bytes.HasPrefix(b, []byte{0xfe, 0xed, 0xfa, 0xcf}),
		bytes.HasPrefix(b, []byte{0xce, 0xfa, 0xed, 0xfe}), bytes.HasPrefix(b, []byte{0xcf, 0xfa, 0xed, 0xfe}):
		return true
	}
	return false
}

func (w *walker) detectBinary(p string, hdr *tar.Header, r io.Reader) error {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return io.ErrUnexpectedEOF
	}
	if !isExecutableMagic(magic[:]) {
		return nil
	}
	if hdr.Size > w.opts.MaxBinarySize {
		w.warnf("%s: executable skipped: %d bytes, more than %d", p, hdr.Size, w.opts.MaxBinarySize)
		return nil
	}
	// The buffer is reused for every executable of the layer: buildinfo
	// copies what it returns.
	w.scratch = append(w.scratch[:0], magic[:]...)
	buf := bytes.NewBuffer(w.scratch)
	if _, err := io.CopyN(buf, r, hdr.Size-4); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	w.scratch = buf.Bytes()
	if pkgs := parseGoBinary(w.scratch); len(pkgs) > 0 {
		w.addPackages(p, hdr, pkgs)
	}
	return nil
}
