package inventory

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
)

// maxSymlinkHops bounds symbolic link resolution, as Linux's ELOOP does.
const maxSymlinkHops = 40

// entry is one path of the merged view: a file of interest or a link.
type entry struct {
	file   *File
	link   string
	isLink bool
}

// Merge applies the contents of an image's layers in order, honouring
// whiteouts, opaque directories and replaced paths, and returns the
// image's inventory. Nil elements are skipped. The layers' contents are
// not modified.
func Merge(layers []*LayerContents) *Image {
	view := make(map[string]entry)
	img := &Image{}
	for _, c := range layers {
		if c == nil {
			continue
		}
		if len(view) > 0 {
			removeHidden(view, c)
		}
		for i := range c.Files {
			view[c.Files[i].Path] = entry{file: &c.Files[i]}
		}
		for p, t := range c.Symlinks {
			view[p] = entry{link: t, isLink: true}
		}
		for _, w := range c.Warnings {
			img.Warnings = append(img.Warnings, fmt.Sprintf("layer %s: %s", c.Digest, w))
		}
	}

	img.OS = findOS(view)
	osEco := ""
	if img.OS != nil {
		osEco = img.OS.Ecosystem()
	}
	for _, e := range view {
		if e.file == nil {
			continue
		}
		for _, p := range e.file.Packages {
			switch p.Kind {
			case KindDpkg, KindApk:
				p.Ecosystem = osEco
			}
			img.Packages = append(img.Packages, p)
		}
	}
	sort.Slice(img.Packages, func(i, j int) bool {
		a, b := &img.Packages[i], &img.Packages[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Arch < b.Arch
	})
	if img.OS == nil && hasOSPackages(img.Packages) {
		img.Warnings = append(img.Warnings, "OS packages found but no os-release file: their ecosystem is unknown")
	}
	return img
}

func hasOSPackages(pkgs []Package) bool {
	for _, p := range pkgs {
		if p.Kind == KindDpkg || p.Kind == KindApk {
			return true
		}
	}
	return false
}

// removeHidden deletes from view the lower-layer paths that layer c
// deletes (whiteouts), hides (opaque directories) or replaces (any
// non-directory entry at the path or at one of its parent directories).
func removeHidden(view map[string]entry, c *LayerContents) {
	whiteouts := make(map[string]bool, len(c.Whiteouts))
	for _, w := range c.Whiteouts {
		whiteouts[w] = true
	}
	opaque := make(map[string]bool, len(c.OpaqueDirs))
	for _, d := range c.OpaqueDirs {
		if d == "." {
			clear(view)
			return
		}
		opaque[d] = true
	}
	replaced := func(p string) bool {
		_, ok := slices.BinarySearch(c.PathHashes, hashPath(p))
		return ok
	}
	for p := range view {
		if whiteouts[p] || replaced(p) {
			delete(view, p)
			continue
		}
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if whiteouts[d] || opaque[d] || replaced(d) {
				delete(view, p)
				break
			}
		}
	}
}

// resolve follows the symbolic links of p's components through the view and
// returns the path it designates. It fails after maxSymlinkHops links.
func resolve(view map[string]entry, p string) (string, bool) {
	hops := 0
	rest := strings.Split(p, "/")
	resolved := ""
	for len(rest) > 0 {
		comp := rest[0]
		rest = rest[1:]
		cur := comp
		if resolved != "" {
			cur = resolved + "/" + comp
		}
		e, ok := view[cur]
		if !ok || !e.isLink {
			resolved = cur
			continue
		}
		if hops++; hops > maxSymlinkHops {
			return "", false
		}
		target := e.link
		if !strings.HasPrefix(target, "/") {
			target = resolved + "/" + target
		}
		// Clean lexically, rooted: ".." never climbs above the root.
		target = strings.TrimPrefix(path.Clean("/"+target), "/")
		var parts []string
		if target != "" {
			parts = strings.Split(target, "/")
		}
		rest = append(parts, rest...)
		resolved = ""
	}
	return resolved, resolved != ""
}

// findOS returns the OS named by etc/os-release (following links) or else
// usr/lib/os-release.
func findOS(view map[string]entry) *OS {
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		if r, ok := resolve(view, p); ok {
			if e, ok := view[r]; ok && e.file != nil && e.file.OS != nil {
				os := *e.file.OS
				return &os
			}
		}
	}
	return nil
}

// Ecosystem returns the OSV ecosystem of the OS's packages, for example
// "Debian:12" or "Alpine:v3.19", or "" for an OS this package does not
// know.
func (o *OS) Ecosystem() string {
	switch o.ID {
	case "debian":
		if o.VersionID == "" {
			return "Debian"
		}
		major, _, _ := strings.Cut(o.VersionID, ".")
		return "Debian:" + major
	case "alpine":
		parts := strings.SplitN(o.VersionID, ".", 3)
		if len(parts) < 2 {
			return "Alpine"
		}
		return "Alpine:v" + parts[0] + "." + parts[1]
	case "ubuntu":
		eco := "Ubuntu:" + o.VersionID
		if strings.Contains(o.Version, "LTS") {
			eco += ":LTS"
		}
		return eco
	case "wolfi":
		return "Wolfi"
	case "chainguard":
		return "Chainguard"
	}
	return ""
}
