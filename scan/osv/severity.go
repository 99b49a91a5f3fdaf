package osv

import (
	"strings"

	cvss20 "github.com/pandatix/go-cvss/20"
	cvss30 "github.com/pandatix/go-cvss/30"
	cvss31 "github.com/pandatix/go-cvss/31"
	cvss40 "github.com/pandatix/go-cvss/40"

	"github.com/berth-dev/berth/scan"
)

// severityOf picks a finding's severity: from a CVSS vector of the affected
// entry, else of the record (CVSS_V4 preferred, then CVSS_V3, then
// CVSS_V2); else from a "severity" string in the entry's
// ecosystem_specific or database_specific or the record's
// database_specific; else UNDEFINED.
func severityOf(r *Record, a Affected, es specific) (string, *scan.CVSS) {
	for _, list := range [][]Severity{a.Severity, r.Severity} {
		for _, typ := range []string{"CVSS_V4", "CVSS_V3", "CVSS_V2"} {
			for _, s := range list {
				if s.Type != typ {
					continue
				}
				if c, ok := scoreCVSS(s.Score); ok {
					return ratingOf(c), c
				}
			}
		}
	}
	for _, sp := range []specific{es, parseSpecific(a.DatabaseSpecific), parseSpecific(r.DatabaseSpecific)} {
		if str, ok := sp.Severity.(string); ok {
			if sev := severityName(str); sev != "" {
				return sev, nil
			}
		}
	}
	return scan.SeverityUndefined, nil
}

// scoreCVSS parses a CVSS vector and computes its base score.
func scoreCVSS(vector string) (*scan.CVSS, bool) {
	vector = strings.TrimSpace(vector)
	switch {
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		v, err := cvss40.ParseVector(vector)
		if err != nil {
			return nil, false
		}
		return &scan.CVSS{Version: "4.0", Vector: vector, Score: v.Score(), Source: "osv"}, true
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		v, err := cvss31.ParseVector(vector)
		if err != nil {
			return nil, false
		}
		return &scan.CVSS{Version: "3.1", Vector: vector, Score: v.BaseScore(), Source: "osv"}, true
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		v, err := cvss30.ParseVector(vector)
		if err != nil {
			return nil, false
		}
		return &scan.CVSS{Version: "3.0", Vector: vector, Score: v.BaseScore(), Source: "osv"}, true
	case strings.HasPrefix(vector, "CVSS:"):
		return nil, false
	default:
		v, err := cvss20.ParseVector(strings.TrimPrefix(strings.TrimSuffix(vector, ")"), "("))
		if err != nil {
			return nil, false
		}
		return &scan.CVSS{Version: "2.0", Vector: vector, Score: v.BaseScore(), Source: "osv"}, true
	}
}

// ratingOf maps a CVSS score to ECR's severity names: the qualitative
// ratings of CVSS v3.1/v4.0 (section 5 of their specifications; "None"
// becomes INFORMATIONAL) and NVD's ranges for CVSS v2 (0–3.9 LOW, 4–6.9
// MEDIUM, 7–10 HIGH).
func ratingOf(c *scan.CVSS) string {
	s := c.Score
	if c.Version == "2.0" {
		switch {
		case s >= 7:
			return scan.SeverityHigh
		case s >= 4:
			return scan.SeverityMedium
		default:
			return scan.SeverityLow
		}
	}
	var r string
	var err error
	if c.Version == "4.0" {
		r, err = cvss40.Rating(s)
	} else {
		r, err = cvss31.Rating(s)
	}
	if err != nil {
		return scan.SeverityUndefined
	}
	if r == "NONE" {
		return scan.SeverityInformational
	}
	return r
}

// severityName maps the severity words of OSV sources (GitHub's
// "MODERATE", Debian's "unimportant", Ubuntu's "negligible"…) to ECR's, or
// "" for a word it does not know.
func severityName(s string) string {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "CRITICAL":
		return scan.SeverityCritical
	case "HIGH", "IMPORTANT":
		return scan.SeverityHigh
	case "MEDIUM", "MODERATE":
		return scan.SeverityMedium
	case "LOW":
		return scan.SeverityLow
	case "NEGLIGIBLE", "UNIMPORTANT", "INFORMATIONAL", "INFO", "NONE":
		return scan.SeverityInformational
	}
	return ""
}
