package inventory

import (
	"encoding/json"
	"strings"
)

// isNPMPackageRoot reports whether dir is the root of a package installed
// under node_modules: node_modules/<name> or node_modules/@scope/<name>.
// Other package.json files below node_modules (test fixtures, nested
// "exports" helpers) are not packages.
func isNPMPackageRoot(dir string) bool {
	i := strings.LastIndex("/"+dir, "/node_modules/")
	if i < 0 {
		return false
	}
	rest := ("/" + dir)[i+len("/node_modules/"):]
	parts := strings.Split(rest, "/")
	switch len(parts) {
	case 1:
		return parts[0] != "" && !strings.HasPrefix(parts[0], "@") && !strings.HasPrefix(parts[0], ".")
	case 2:
		return strings.HasPrefix(parts[0], "@") && len(parts[0]) > 1 && parts[1] != ""
	}
	return false
}

// parsePackageJSON reads the name and version of an npm package.json.
func parsePackageJSON(b []byte) (Package, bool) {
	var m struct {
		Name    any `json:"name"`
		Version any `json:"version"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return Package{}, false
	}
	name, _ := m.Name.(string)
	version, _ := m.Version.(string)
	if name == "" || version == "" {
		return Package{}, false
	}
	return Package{Name: name, Version: version, Kind: KindNPM, Ecosystem: EcosystemNPM}, true
}
