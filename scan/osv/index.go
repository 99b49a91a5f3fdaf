package osv

import (
	"slices"
	"strings"
	"time"

	"github.com/google/osv-scalibr/semantic"

	"github.com/berth-dev/berth/scan"
)

// Database is an immutable index of OSV records by ecosystem and package
// name. It is safe for concurrent use.
type Database struct {
	version  string
	modified time.Time
	records  int
	index    map[pkgKey][]*entry
}

type pkgKey struct{ ecosystem, name string }

// vuln is what every finding of one record shares.
type vuln struct {
	id          string
	aliases     []string
	description string
	uri         string
	references  []string
}

// entry is one affected package of one record, compiled for matching.
type entry struct {
	vuln      *vuln
	ecosystem string
	ranges    [][]event // each sorted by version
	versions  map[string]struct{}
	platforms []platform // nil: every platform
	severity  string
	cvss      *scan.CVSS
}

type eventKind uint8

const (
	evIntroduced eventKind = iota
	evFixed
	evLastAffected
)

type event struct {
	kind eventKind
	raw  string
	zero bool // introduced "0": before every version
	ver  semantic.Version
}

type platform struct{ goos, goarch []string }

// compile indexes the live records of byID.
func compile(byID map[string]*Record, version string) *Database {
	db := &Database{version: version, index: make(map[pkgKey][]*entry)}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids) // deterministic entry order within a key
	for _, id := range ids {
		r := byID[id]
		if r.Withdrawn != nil {
			continue
		}
		db.records++
		if r.Modified.After(db.modified) {
			db.modified = r.Modified
		}
		v := newVuln(r)
		for _, a := range r.Affected {
			e := compileAffected(r, v, a)
			if e == nil {
				continue
			}
			k := pkgKey{a.Package.Ecosystem, normaliseName(ecosystemBase(a.Package.Ecosystem), a.Package.Name)}
			db.index[k] = append(db.index[k], e)
		}
	}
	return db
}

func newVuln(r *Record) *vuln {
	v := &vuln{id: r.ID, aliases: slices.Clone(r.Aliases)}
	switch {
	case r.Summary != "" && r.Details != "":
		v.description = r.Summary + "\n\n" + r.Details
	case r.Summary != "":
		v.description = r.Summary
	default:
		v.description = r.Details
	}
	var advisory string
	for _, ref := range r.References {
		if ref.URL == "" {
			continue
		}
		v.references = append(v.references, ref.URL)
		if advisory == "" && ref.Type == "ADVISORY" {
			advisory = ref.URL
		}
	}
	ds := parseSpecific(r.DatabaseSpecific)
	switch u, _ := ds.URL.(string); {
	case advisory != "":
		v.uri = advisory
	case strings.HasPrefix(u, "https://"):
		v.uri = u
	case len(v.references) > 0:
		v.uri = v.references[0]
	default:
		v.uri = "https://osv.dev/vulnerability/" + r.ID
	}
	return v
}

// compileAffected returns nil for an entry that can never match.
func compileAffected(r *Record, v *vuln, a Affected) *entry {
	e := &entry{vuln: v, ecosystem: a.Package.Ecosystem}
	for _, rg := range a.Ranges {
		if rg.Type != "ECOSYSTEM" && rg.Type != "SEMVER" {
			continue // GIT ranges need commits, which images do not carry
		}
		if evs, ok := compileRange(a.Package.Ecosystem, rg); ok {
			e.ranges = append(e.ranges, evs)
		}
	}
	if len(a.Versions) > 0 {
		e.versions = make(map[string]struct{}, len(a.Versions))
		for _, s := range a.Versions {
			e.versions[s] = struct{}{}
		}
	}
	if len(e.ranges) == 0 && len(e.versions) == 0 {
		return nil
	}
	es := parseSpecific(a.EcosystemSpecific)
	for _, imp := range es.Imports {
		if len(imp.GOOS) == 0 && len(imp.GOARCH) == 0 {
			e.platforms = nil // one import on every platform: all match
			break
		}
		e.platforms = append(e.platforms, platform{goos: imp.GOOS, goarch: imp.GOARCH})
	}
	e.severity, e.cvss = severityOf(r, a, es)
	return e
}

// compileRange parses and sorts a range's events. A range with a version
// the ecosystem's parser rejects is dropped: it cannot be evaluated.
func compileRange(ecosystem string, rg Range) ([]event, bool) {
	evs := make([]event, 0, len(rg.Events))
	for _, ev := range rg.Events {
		var e event
		switch {
		case ev.Introduced != "":
			e = event{kind: evIntroduced, raw: ev.Introduced, zero: ev.Introduced == "0"}
		case ev.Fixed != "":
			e = event{kind: evFixed, raw: ev.Fixed}
		case ev.LastAffected != "":
			e = event{kind: evLastAffected, raw: ev.LastAffected}
		default:
			continue // limit events only bound GIT ranges
		}
		if !e.zero {
			ver, err := semantic.Parse(e.raw, ecosystem)
			if err != nil {
				return nil, false
			}
			e.ver = ver
		}
		evs = append(evs, e)
	}
	if len(evs) == 0 {
		return nil, false
	}
	ok := true
	slices.SortStableFunc(evs, func(a, b event) int {
		switch {
		case a.zero && b.zero:
			return 0
		case a.zero:
			return -1
		case b.zero:
			return 1
		}
		c, err := a.ver.Compare(b.ver)
		if err != nil {
			ok = false
		}
		return c
	})
	return evs, ok
}

// ecosystemBase returns the ecosystem without its release suffix ("Debian"
// for "Debian:12").
func ecosystemBase(eco string) string {
	base, _, _ := strings.Cut(eco, ":")
	return base
}

// normaliseName returns the name under which a package is indexed: PyPI
// names are normalised as PEP 503 says (lower case, runs of "-", "_" and
// "." become one "-"); other names are kept as they are.
func normaliseName(ecosystemBase, name string) string {
	if ecosystemBase != "PyPI" {
		return name
	}
	var b strings.Builder
	b.Grow(len(name))
	sep := false
	for _, c := range strings.ToLower(name) {
		if c == '-' || c == '_' || c == '.' {
			if !sep {
				b.WriteByte('-')
			}
			sep = true
			continue
		}
		sep = false
		b.WriteRune(c)
	}
	return b.String()
}
