package sbom

import (
	"regexp"
	"sort"
	"strings"

	"github.com/berth-dev/berth/scan"
)

// PURL returns the package URL of p, an installed package of an image whose
// operating system is os (nil if unknown), or "" if p's package manager has
// no purl type here (see the package documentation for the mapping).
//
// The result is in the canonical form of the purl specification
// (https://github.com/package-url/purl-spec): type-specific normalisation
// of the namespace and name, every component percent-encoded except for
// the unreserved characters and ':', qualifiers sorted by key and empty
// ones left out.
func PURL(p scan.Package, os *scan.OS) string {
	u, ok := packageURL(p, os)
	if !ok {
		return ""
	}
	return u.String()
}

// purl is a package URL's components, not yet encoded.
type purl struct {
	typ        string
	namespace  []string // segments
	name       string
	version    string
	qualifiers map[string]string
}

func packageURL(p scan.Package, os *scan.OS) (purl, bool) {
	if p.Name == "" {
		return purl{}, false
	}
	u := purl{name: p.Name, version: p.Version, qualifiers: map[string]string{}}
	switch p.PackageManager {
	case "dpkg":
		u.typ = "deb"
		vendor := osVendor(p, os, "debian")
		u.namespace = []string{vendor}
		u.name = strings.ToLower(p.Name)
		u.qualifiers["arch"] = p.Arch
		u.qualifiers["distro"] = distro(vendor, os)
	case "apk":
		u.typ = "apk"
		vendor := osVendor(p, os, "alpine")
		u.namespace = []string{vendor}
		u.name = strings.ToLower(p.Name)
		u.qualifiers["arch"] = p.Arch
		u.qualifiers["distro"] = distro(vendor, os)
	case "go":
		// The module path: the last element is the name, the others
		// the namespace. The standard library is "stdlib", without a
		// namespace, as in the Go vulnerability database and other SBOM
		// tools.
		u.typ = "golang"
		segs := strings.Split(strings.ToLower(strings.Trim(p.Name, "/")), "/")
		u.name = segs[len(segs)-1]
		if len(segs) > 1 {
			u.namespace = segs[:len(segs)-1]
		}
	case "python":
		u.typ = "pypi"
		u.name = pypiName(p.Name)
	case "npm":
		u.typ = "npm"
		name := strings.ToLower(p.Name)
		if scope, rest, ok := strings.Cut(name, "/"); ok && strings.HasPrefix(scope, "@") {
			u.namespace = []string{scope}
			name = rest
		}
		u.name = name
	default:
		return purl{}, false
	}
	if u.name == "" {
		return purl{}, false
	}
	return u, true
}

// osVendor returns the purl namespace of an OS package: the os-release ID,
// else the distribution named by the package's ecosystem ("Debian:12"),
// else def.
func osVendor(p scan.Package, os *scan.OS, def string) string {
	if os != nil && os.ID != "" {
		return strings.ToLower(os.ID)
	}
	if eco, _, _ := strings.Cut(p.Ecosystem, ":"); eco != "" {
		return strings.ToLower(eco)
	}
	return def
}

// distro returns the distro qualifier, "<id>-<version id>" (as Syft and
// Trivy spell it), or "" when the version is unknown.
func distro(vendor string, os *scan.OS) string {
	if os == nil || os.VersionID == "" {
		return ""
	}
	return vendor + "-" + os.VersionID
}

var pypiSeparators = regexp.MustCompile(`[-_.]+`)

// pypiName normalises a Python distribution name (PEP 503), as the purl
// pypi type requires.
func pypiName(n string) string {
	return strings.ToLower(pypiSeparators.ReplaceAllString(n, "-"))
}

// String returns u in canonical form.
func (u purl) String() string {
	var b strings.Builder
	b.WriteString("pkg:")
	b.WriteString(u.typ)
	b.WriteByte('/')
	for _, s := range u.namespace {
		if s == "" {
			continue
		}
		b.WriteString(escape(s))
		b.WriteByte('/')
	}
	b.WriteString(escape(u.name))
	if u.version != "" {
		b.WriteByte('@')
		b.WriteString(escape(u.version))
	}
	keys := make([]string, 0, len(u.qualifiers))
	for k, v := range u.qualifiers {
		if v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(escapeQualifier(u.qualifiers[k]))
	}
	return b.String()
}

// escapeQualifier is escape for a qualifier value, which keeps its '/'
// (as in the specification's canonical
// "repository_url=repo.spring.io/release").
func escapeQualifier(s string) string {
	segs := strings.Split(s, "/")
	for i, seg := range segs {
		segs[i] = escape(seg)
	}
	return strings.Join(segs, "/")
}

// escape percent-encodes s for any purl component: the bytes of its UTF-8
// encoding other than the unreserved characters of RFC 3986 and ':'
// (which the purl specification says is never encoded) become %XX.
func escape(s string) string {
	const hex = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !keep(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keep(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return string(b)
}

func keep(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == ':'
}
