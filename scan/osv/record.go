package osv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Record is an OSV vulnerability record, reduced to the fields matching and
// reporting use.
//
// Reference: https://ossf.github.io/osv-schema/ (schema 1.7)
type Record struct {
	SchemaVersion string      `json:"schema_version,omitempty"`
	ID            string      `json:"id"`
	Modified      time.Time   `json:"modified"`
	Published     *time.Time  `json:"published,omitempty"`
	Withdrawn     *time.Time  `json:"withdrawn,omitempty"`
	Aliases       []string    `json:"aliases,omitempty"`
	Upstream      []string    `json:"upstream,omitempty"`
	Summary       string      `json:"summary,omitempty"`
	Details       string      `json:"details,omitempty"`
	Severity      []Severity  `json:"severity,omitempty"`
	Affected      []Affected  `json:"affected,omitempty"`
	References    []Reference `json:"references,omitempty"`
	// DatabaseSpecific is kept raw; a "severity" string in it is used when
	// the record has no CVSS vector, and a "url" string as the advisory's
	// link.
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

// Severity is one entry of a record's or an affected package's severity
// list: Type is "CVSS_V2", "CVSS_V3", "CVSS_V4" (or another scoring system
// this package ignores) and Score the vector.
type Severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Affected is one affected package of a record.
type Affected struct {
	Package  AffectedPackage `json:"package"`
	Severity []Severity      `json:"severity,omitempty"`
	Ranges   []Range         `json:"ranges,omitempty"`
	Versions []string        `json:"versions,omitempty"`
	// EcosystemSpecific and DatabaseSpecific are kept raw. Go records list
	// the affected platforms in ecosystem_specific.imports[].goos/goarch;
	// a "severity" string in either is used when no CVSS vector is given.
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  json.RawMessage `json:"database_specific,omitempty"`
}

// AffectedPackage names a package in an ecosystem.
type AffectedPackage struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	Purl      string `json:"purl,omitempty"`
}

// Range is a version range: Type is "ECOSYSTEM", "SEMVER" or "GIT" (GIT
// ranges are ignored by matching).
type Range struct {
	Type   string  `json:"type"`
	Repo   string  `json:"repo,omitempty"`
	Events []Event `json:"events"`
}

// Event is one event of a range; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Reference is a link of a record.
type Reference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// ParseRecord parses one OSV record (a JSON object). It checks what
// matching relies on: an id, and for each affected entry an ecosystem, a
// name, and ranges whose events each set exactly one version. Errors wrap
// ErrInvalidRecord.
func ParseRecord(b []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRecord, err)
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

func (r *Record) validate() error {
	if r.ID == "" {
		return fmt.Errorf("%w: missing id", ErrInvalidRecord)
	}
	for i, a := range r.Affected {
		if a.Package.Ecosystem == "" || a.Package.Name == "" {
			return fmt.Errorf("%w: %s: affected[%d]: missing package ecosystem or name", ErrInvalidRecord, r.ID, i)
		}
		for j, rg := range a.Ranges {
			if rg.Type == "" || len(rg.Events) == 0 {
				return fmt.Errorf("%w: %s: affected[%d].ranges[%d]: missing type or events", ErrInvalidRecord, r.ID, i, j)
			}
			for k, e := range rg.Events {
				n := 0
				for _, v := range []string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
					if v != "" {
						n++
					}
				}
				if n != 1 {
					return fmt.Errorf("%w: %s: affected[%d].ranges[%d].events[%d]: want exactly one version", ErrInvalidRecord, r.ID, i, j, k)
				}
			}
		}
		for _, raw := range []json.RawMessage{a.EcosystemSpecific, a.DatabaseSpecific} {
			if len(raw) > 0 && !isObjectOrNull(raw) {
				return fmt.Errorf("%w: %s: affected[%d]: ecosystem_specific or database_specific is not an object", ErrInvalidRecord, r.ID, i)
			}
		}
	}
	if len(r.DatabaseSpecific) > 0 && !isObjectOrNull(r.DatabaseSpecific) {
		return fmt.Errorf("%w: %s: database_specific is not an object", ErrInvalidRecord, r.ID)
	}
	return nil
}

func isObjectOrNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && (raw[0] == '{' || bytes.Equal(raw, []byte("null")))
}

// specific holds the parts of database_specific / ecosystem_specific that
// matching and reporting read. Unknown shapes are ignored.
type specific struct {
	Severity any `json:"severity"`
	URL      any `json:"url"`
	Imports  []struct {
		Path   string   `json:"path"`
		GOOS   []string `json:"goos"`
		GOARCH []string `json:"goarch"`
	} `json:"imports"`
}

// parseSpecific decodes raw leniently: a field of an unexpected type is
// dropped rather than failing the record.
func parseSpecific(raw json.RawMessage) specific {
	var s specific
	if len(raw) == 0 {
		return s
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		// Retry field by field so that a bad "imports" does not hide a
		// good "severity".
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return specific{}
		}
		s = specific{}
		_ = json.Unmarshal(m["severity"], &s.Severity)
		_ = json.Unmarshal(m["url"], &s.URL)
		_ = json.Unmarshal(m["imports"], &s.Imports)
	}
	return s
}
