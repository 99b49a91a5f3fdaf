package osv

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/google/osv-scalibr/semantic"

	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/scan/osv/inventory"
)

// Target returns the OSV ecosystem, package name (as indexed) and version
// that package p is matched under, and false for a package that is not
// matched:
//
//   - dpkg: "Debian:<major of VERSION_ID>" (or p.Ecosystem), keyed by the
//     source package and its version, since Debian's OSV records are per
//     source package;
//   - apk: "Alpine:v<major>.<minor>" (or p.Ecosystem), keyed by the origin
//     package;
//   - go: "Go", the module path, the version without its "v" (the standard
//     library is "stdlib"; a main module built without version, "(devel)",
//     is not matched);
//   - python: "PyPI", the name normalised as PEP 503 says;
//   - npm: "npm";
//   - any other package with an Ecosystem: that ecosystem and its name.
//
// os is the image's OS, used when a dpkg or apk package has no Ecosystem.
func Target(os *scan.OS, p scan.Package) (ecosystem, name, version string, ok bool) {
	name, version, ecosystem = p.Name, p.Version, p.Ecosystem
	switch p.PackageManager {
	case "dpkg", "apk":
		if ecosystem == "" && os != nil {
			ecosystem = (&inventory.OS{ID: os.ID, VersionID: os.VersionID}).Ecosystem()
		}
		if p.SourceName != "" {
			name = p.SourceName
		}
		if p.SourceVersion != "" {
			version = p.SourceVersion
		}
	case "go":
		ecosystem = inventory.EcosystemGo
		if version == "" || version == "(devel)" {
			return "", "", "", false
		}
		version = strings.TrimPrefix(version, "v")
	case "python":
		ecosystem = inventory.EcosystemPyPI
	case "npm":
		ecosystem = inventory.EcosystemNPM
	}
	if ecosystem == "" || name == "" || version == "" {
		return "", "", "", false
	}
	return ecosystem, normaliseName(ecosystemBase(ecosystem), name), version, true
}

// Match returns the findings of inv's packages, sorted by severity (most
// severe first), then id, package, installed version and path. A package
// whose version its ecosystem's parser rejects matches only records that
// list that exact version. The error is the context's.
func (db *Database) Match(ctx context.Context, inv scan.Inventory) ([]scan.Finding, error) {
	var out []scan.Finding
	type seenKey struct{ id, pkg, ver, path string }
	seen := make(map[seenKey]struct{})
	for i, p := range inv.Packages {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		eco, name, version, ok := Target(inv.OS, p)
		if !ok {
			continue
		}
		entries := db.index[pkgKey{eco, name}]
		if len(entries) == 0 {
			continue
		}
		ver, _ := semantic.Parse(version, eco) // nil: only explicit versions match
		for _, e := range entries {
			if !e.matchesPlatform(p) {
				continue
			}
			affected, fixed := e.affects(version, ver)
			if !affected {
				continue
			}
			k := seenKey{e.vuln.id, p.Name, p.Version, p.Path}
			if _, dup := seen[k]; dup {
				continue
			}
			seen[k] = struct{}{}
			out = append(out, finding(e, p, fixed))
		}
	}
	sortFindings(out)
	return out, nil
}

func finding(e *entry, p scan.Package, fixed string) scan.Finding {
	f := scan.Finding{
		ID:               e.vuln.id,
		Aliases:          slices.Clone(e.vuln.aliases),
		Description:      e.vuln.description,
		URI:              e.vuln.uri,
		References:       slices.Clone(e.vuln.references),
		Severity:         e.severity,
		Package:          p.Name,
		InstalledVersion: p.Version,
		FixedVersion:     fixed,
		SourcePackage:    p.SourceName,
		PackageManager:   p.PackageManager,
		Ecosystem:        e.ecosystem,
		Path:             p.Path,
		Layer:            p.Layer,
	}
	if e.cvss != nil {
		c := *e.cvss
		f.CVSS = &c
	}
	return f
}

var severityRank = map[string]int{
	scan.SeverityCritical:      5,
	scan.SeverityHigh:          4,
	scan.SeverityMedium:        3,
	scan.SeverityLow:           2,
	scan.SeverityInformational: 1,
}

func sortFindings(fs []scan.Finding) {
	slices.SortFunc(fs, func(a, b scan.Finding) int {
		return cmp.Or(
			cmp.Compare(severityRank[b.Severity], severityRank[a.Severity]),
			strings.Compare(a.ID, b.ID),
			strings.Compare(a.Package, b.Package),
			strings.Compare(a.InstalledVersion, b.InstalledVersion),
			strings.Compare(a.Path, b.Path),
		)
	})
}

// matchesPlatform reports whether a Go package's binary runs on one of the
// entry's platforms. A package without GOOS or GOARCH matches every value
// of the missing part (conservatively, as govulncheck does).
func (e *entry) matchesPlatform(p scan.Package) bool {
	if len(e.platforms) == 0 || p.PackageManager != "go" {
		return true
	}
	for _, pl := range e.platforms {
		if matchesComponent(p.GOOS, pl.goos) && matchesComponent(p.Arch, pl.goarch) {
			return true
		}
	}
	return false
}

func matchesComponent(s string, list []string) bool {
	return s == "" || len(list) == 0 || slices.Contains(list, s)
}

// affects reports whether version (parsed as ver, nil if it did not parse)
// is affected by the entry, and the version that fixes it, if known.
func (e *entry) affects(version string, ver semantic.Version) (bool, string) {
	if _, ok := e.versions[version]; ok {
		return true, e.nextFixed(ver)
	}
	if ver == nil {
		return false, ""
	}
	for _, evs := range e.ranges {
		if ok, fixed := inRange(evs, ver); ok {
			return true, fixed
		}
	}
	return false, ""
}

// inRange evaluates a sorted range as the OSV schema says: a version is
// affected when the last introduced event at or below it is not followed
// by a fixed event at or below it, nor by a last_affected event below it.
// fixed is the first fixed event above the version.
func inRange(evs []event, ver semantic.Version) (bool, string) {
	affected := false
	for i, ev := range evs {
		var c int // sign of ev.ver - ver
		if ev.zero {
			c = -1
		} else {
			r, err := ver.Compare(ev.ver)
			if err != nil {
				return false, ""
			}
			c = -r
		}
		switch ev.kind {
		case evIntroduced:
			if c <= 0 {
				affected = true
			}
		case evFixed:
			if c <= 0 {
				affected = false
			}
		case evLastAffected:
			if c < 0 {
				affected = false
			}
		}
		if c > 0 {
			if !affected {
				return false, ""
			}
			for _, next := range evs[i:] {
				if next.kind == evFixed {
					return true, next.raw
				}
				if next.kind == evIntroduced {
					break
				}
			}
			return true, ""
		}
	}
	return affected, ""
}

// nextFixed returns, for a version listed explicitly, the first fixed
// event above it in the entry's ranges.
func (e *entry) nextFixed(ver semantic.Version) string {
	if ver == nil {
		return ""
	}
	for _, evs := range e.ranges {
		if ok, fixed := inRange(evs, ver); ok && fixed != "" {
			return fixed
		}
	}
	return ""
}
