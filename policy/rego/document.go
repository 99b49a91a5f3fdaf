package rego

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxPolicyLength is the longest policy document accepted, in characters.
// It is ECR's limit for repository and registry policy text.
const MaxPolicyLength = 10240

// Policy language versions accepted in a document's Version element.
// Policy variables (${aws:username}) are recognised only in 2012-10-17
// documents; in 2008-10-17 documents, and in documents without a Version
// (which IAM treats as 2008-10-17), "${...}" is literal text.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// Document is a parsed, validated and normalised IAM policy document, as
// returned by ParsePolicyDocument.
//
// Normalisation makes equivalent documents compare equal: single values
// become one-element lists, action names and condition keys are lower-cased
// (IAM compares them case-insensitively), condition operators take their
// canonical spelling, condition values their canonical form (dates in RFC
// 3339 UTC, CIDRs masked, numbers and booleans in Go's formatting), a
// principal list that contains "*" becomes just "*", an account ID principal
// becomes its root ARN, and conditions are sorted by operator and key.
//
// Document's JSON encoding is IAM policy JSON, which ParsePolicyDocument
// accepts and normalises back to an equal Document.
type Document struct {
	Version   string // "2012-10-17", "2008-10-17" or "" (absent)
	ID        string
	Statement []Statement
}

// Statement is one normalised policy statement.
type Statement struct {
	Sid    string
	Effect string // "Allow" or "Deny"
	// Principal and NotPrincipal are nil when the element is absent.
	Principal    *Principals
	NotPrincipal *Principals
	// Action and NotAction hold lower-cased patterns; exactly one is set.
	Action    []string
	NotAction []string
	// Resource and NotResource hold ARN patterns or "*"; at most one is set.
	Resource    []string
	NotResource []string
	Condition   []Condition
}

// Principals is a normalised Principal or NotPrincipal element.
type Principals struct {
	// AWS holds "*", or IAM ARNs (arn:aws:iam::<account>:root,
	// ...:user/<name>, ...:group/<name>, ...:role/<name>).
	AWS []string
	// Service holds service principal names (codebuild.amazonaws.com).
	// Berth has no service principals: these entries never match.
	Service []string
}

// Condition is one condition test: an operator applied to one context key.
type Condition struct {
	// Operator is the canonical operator name including any set qualifier
	// and IfExists suffix, e.g. "StringLike" or
	// "ForAnyValue:StringEqualsIfExists".
	Operator string
	// Key is the lower-cased condition key, e.g. "aws:sourceip".
	Key string
	// Values are the normalised values; the test passes if any matches.
	Values []string
}

// ParsePolicyDocument parses and validates an IAM JSON policy document (the
// grammar of ECR repository and registry policies and of IAM identity
// policies) and returns it normalised. Errors are *InvalidPolicyError values
// that match ErrInvalidPolicy and give the JSON path of the problem.
//
// ParsePolicyDocument checks the grammar shared by all policy kinds; the
// Authorizer's Set methods additionally check what a kind requires (a
// repository policy must name a Principal, an identity policy must not, ...).
func ParsePolicyDocument(text string) (*Document, error) {
	return parseDocument(text, true)
}

func parseDocument(text string, limit bool) (*Document, error) {
	if limit {
		if n := utf8.RuneCountInString(text); n > MaxPolicyLength {
			return nil, docErr("", "policy text is %d characters; the limit is %d", n, MaxPolicyLength)
		}
	}
	if strings.TrimSpace(text) == "" {
		return nil, docErr("", "policy text is empty")
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonErr(text, err)
	}
	if rest := strings.TrimLeft(text[dec.InputOffset():], " \t\r\n"); rest != "" {
		return nil, docErr(offsetLocation(text, int64(len(text)-len(rest))), "unexpected data after the policy document")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, docErr("$", "a policy document must be a JSON object")
	}
	d := &Document{}
	for _, k := range sortedKeys(obj) {
		switch k {
		case "Version", "Id", "Statement":
		default:
			return nil, docErr("$."+k, "unknown element %q (elements are Version, Id and Statement)", k)
		}
	}
	if raw, ok := obj["Version"]; ok {
		s, ok := raw.(string)
		if !ok || (s != Version2012 && s != Version2008) {
			return nil, docErr("$.Version", "Version must be %q or %q", Version2012, Version2008)
		}
		d.Version = s
	}
	if raw, ok := obj["Id"]; ok {
		s, ok := raw.(string)
		if !ok {
			return nil, docErr("$.Id", "Id must be a string")
		}
		d.ID = s
	}
	p := &docParser{vars: d.Version == Version2012}
	raw, ok := obj["Statement"]
	if !ok {
		return nil, docErr("$", "missing Statement")
	}
	switch st := raw.(type) {
	case map[string]any:
		s, err := p.statement(st, "$.Statement")
		if err != nil {
			return nil, err
		}
		d.Statement = []Statement{s}
	case []any:
		if len(st) == 0 {
			return nil, docErr("$.Statement", "Statement must not be empty")
		}
		for i, e := range st {
			path := fmt.Sprintf("$.Statement[%d]", i)
			m, ok := e.(map[string]any)
			if !ok {
				return nil, docErr(path, "a statement must be a JSON object")
			}
			s, err := p.statement(m, path)
			if err != nil {
				return nil, err
			}
			d.Statement = append(d.Statement, s)
		}
	default:
		return nil, docErr("$.Statement", "Statement must be an object or an array of objects")
	}
	return d, nil
}

type docParser struct {
	vars bool // policy variables are recognised (Version 2012-10-17)
}

func (p *docParser) statement(m map[string]any, path string) (Statement, error) {
	var s Statement
	for _, k := range sortedKeys(m) {
		switch k {
		case "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
			"Resource", "NotResource", "Condition":
		default:
			return s, docErr(path+"."+k, "unknown element %q", k)
		}
	}
	if raw, ok := m["Sid"]; ok {
		sid, ok := raw.(string)
		if !ok {
			return s, docErr(path+".Sid", "Sid must be a string")
		}
		s.Sid = sid
	}
	switch raw := m["Effect"]; raw {
	case "Allow", "Deny":
		s.Effect = raw.(string)
	case nil:
		return s, docErr(path, "missing Effect")
	default:
		return s, docErr(path+".Effect", "unknown Effect %s; it must be \"Allow\" or \"Deny\"", quoteJSON(raw))
	}

	if err := exclusive(m, path, "Principal", "NotPrincipal", false); err != nil {
		return s, err
	}
	var err error
	if raw, ok := m["Principal"]; ok {
		if s.Principal, err = principals(raw, path+".Principal"); err != nil {
			return s, err
		}
	}
	if raw, ok := m["NotPrincipal"]; ok {
		if s.NotPrincipal, err = principals(raw, path+".NotPrincipal"); err != nil {
			return s, err
		}
	}

	if err := exclusive(m, path, "Action", "NotAction", true); err != nil {
		return s, err
	}
	if raw, ok := m["Action"]; ok {
		if s.Action, err = actions(raw, path+".Action"); err != nil {
			return s, err
		}
	}
	if raw, ok := m["NotAction"]; ok {
		if s.NotAction, err = actions(raw, path+".NotAction"); err != nil {
			return s, err
		}
	}

	if err := exclusive(m, path, "Resource", "NotResource", false); err != nil {
		return s, err
	}
	if raw, ok := m["Resource"]; ok {
		if s.Resource, err = p.resources(raw, path+".Resource"); err != nil {
			return s, err
		}
	}
	if raw, ok := m["NotResource"]; ok {
		if s.NotResource, err = p.resources(raw, path+".NotResource"); err != nil {
			return s, err
		}
	}

	if raw, ok := m["Condition"]; ok {
		if s.Condition, err = p.conditions(raw, path+".Condition"); err != nil {
			return s, err
		}
	}
	return s, nil
}

// exclusive checks that at most one (or, if required, exactly one) of a and
// b is present in m.
func exclusive(m map[string]any, path, a, b string, required bool) error {
	_, hasA := m[a]
	_, hasB := m[b]
	switch {
	case hasA && hasB:
		return docErr(path, "a statement must not have both %s and %s", a, b)
	case required && !hasA && !hasB:
		return docErr(path, "missing %s (or %s)", a, b)
	}
	return nil
}

func principals(raw any, path string) (*Principals, error) {
	switch v := raw.(type) {
	case string:
		if v != "*" {
			return nil, docErr(path, `a principal must be "*" or an object such as {"AWS": "arn:aws:iam::123456789012:user/alice"}`)
		}
		return &Principals{AWS: []string{"*"}}, nil
	case map[string]any:
		if len(v) == 0 {
			return nil, docErr(path, "empty principal")
		}
		p := &Principals{}
		for _, k := range sortedKeys(v) {
			kpath := path + "." + k
			switch k {
			case "AWS":
				list, err := stringList(v[k], kpath)
				if err != nil {
					return nil, err
				}
				for i, s := range list {
					n, err := awsPrincipal(s)
					if err != nil {
						return nil, docErr(fmt.Sprintf("%s[%d]", kpath, i), "%v", err)
					}
					p.AWS = append(p.AWS, n)
				}
			case "Service":
				list, err := stringList(v[k], kpath)
				if err != nil {
					return nil, err
				}
				for i, s := range list {
					if strings.ContainsAny(s, "*?") {
						return nil, docErr(fmt.Sprintf("%s[%d]", kpath, i), "wildcards are not allowed in service principals")
					}
				}
				p.Service = list
			case "Federated", "CanonicalUser":
				return nil, docErr(kpath, "%s principals are not supported", k)
			default:
				return nil, docErr(kpath, "unknown principal type %q (use \"AWS\" or \"Service\")", k)
			}
		}
		if slices.Contains(p.AWS, "*") {
			return &Principals{AWS: []string{"*"}}, nil
		}
		return p, nil
	default:
		return nil, docErr(path, `a principal must be "*" or an object such as {"AWS": "arn:aws:iam::123456789012:user/alice"}`)
	}
}

// awsPrincipal validates and normalises one AWS principal value.
func awsPrincipal(s string) (string, error) {
	if s == "*" {
		return s, nil
	}
	if isAccountID(s) {
		return "arn:aws:iam::" + s + ":root", nil
	}
	if !strings.HasPrefix(s, "arn:") {
		return "", fmt.Errorf("principal %q is neither \"*\", a 12-digit account ID nor an IAM ARN", s)
	}
	if strings.ContainsAny(s, "*?") {
		return "", fmt.Errorf("principal %q: wildcards are not allowed in principals; use a Condition with ArnLike on aws:PrincipalArn", s)
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[1] == "" || (parts[2] != "iam" && parts[2] != "sts") ||
		parts[3] != "" || parts[4] == "" || parts[5] == "" {
		return "", fmt.Errorf("principal %q is not an IAM ARN (arn:aws:iam::<account>:user/<name>)", s)
	}
	return s, nil
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func actions(raw any, path string) ([]string, error) {
	list, err := stringList(raw, path)
	if err != nil {
		return nil, err
	}
	for i, a := range list {
		if !validAction(a) {
			return nil, docErr(fmt.Sprintf("%s[%d]", path, i), "action %q is not \"*\" or <service>:<action> (wildcards * and ? allowed in the action)", a)
		}
		list[i] = strings.ToLower(a)
	}
	return list, nil
}

func validAction(a string) bool {
	if a == "*" {
		return true
	}
	svc, name, ok := strings.Cut(a, ":")
	if !ok || svc == "" || name == "" {
		return false
	}
	for i := 0; i < len(svc); i++ {
		c := svc[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '*' || c == '?' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (p *docParser) resources(raw any, path string) ([]string, error) {
	list, err := stringList(raw, path)
	if err != nil {
		return nil, err
	}
	for i, r := range list {
		ipath := fmt.Sprintf("%s[%d]", path, i)
		if r == "*" {
			continue
		}
		if parts := strings.SplitN(r, ":", 6); len(parts) != 6 || parts[0] != "arn" {
			return nil, docErr(ipath, "resource %q is neither \"*\" nor an ARN (arn:aws:ecr:<region>:<account>:repository/<name>)", r)
		}
		if p.vars {
			if _, err := parseTemplate(r); err != nil {
				return nil, docErr(ipath, "%v", err)
			}
		}
	}
	return list, nil
}

// Condition operators. opInfo describes a base operator (without qualifier
// or IfExists suffix).
type opInfo struct {
	name  string
	kind  valueKind
	base  string // evaluation primitive used by the Rego policy
	neg   bool   // negated form of base
	lower bool   // values compared case-insensitively
}

type valueKind int

const (
	kindString valueKind = iota
	kindLike             // string with * and ? wildcards
	kindARN              // ARN with per-segment wildcards
	kindNumber
	kindDate
	kindBool
	kindIP
	kindNull
)

var operators = func() map[string]opInfo {
	list := []opInfo{
		{name: "StringEquals", kind: kindString, base: "match"},
		{name: "StringNotEquals", kind: kindString, base: "match", neg: true},
		{name: "StringEqualsIgnoreCase", kind: kindString, base: "imatch", lower: true},
		{name: "StringNotEqualsIgnoreCase", kind: kindString, base: "imatch", neg: true, lower: true},
		{name: "StringLike", kind: kindLike, base: "match"},
		{name: "StringNotLike", kind: kindLike, base: "match", neg: true},
		{name: "ArnEquals", kind: kindARN, base: "match"},
		{name: "ArnLike", kind: kindARN, base: "match"},
		{name: "ArnNotEquals", kind: kindARN, base: "match", neg: true},
		{name: "ArnNotLike", kind: kindARN, base: "match", neg: true},
		{name: "NumericEquals", kind: kindNumber, base: "num_eq"},
		{name: "NumericNotEquals", kind: kindNumber, base: "num_eq", neg: true},
		{name: "NumericLessThan", kind: kindNumber, base: "num_lt"},
		{name: "NumericLessThanEquals", kind: kindNumber, base: "num_le"},
		{name: "NumericGreaterThan", kind: kindNumber, base: "num_gt"},
		{name: "NumericGreaterThanEquals", kind: kindNumber, base: "num_ge"},
		{name: "DateEquals", kind: kindDate, base: "date_eq"},
		{name: "DateNotEquals", kind: kindDate, base: "date_eq", neg: true},
		{name: "DateLessThan", kind: kindDate, base: "date_lt"},
		{name: "DateLessThanEquals", kind: kindDate, base: "date_le"},
		{name: "DateGreaterThan", kind: kindDate, base: "date_gt"},
		{name: "DateGreaterThanEquals", kind: kindDate, base: "date_ge"},
		{name: "Bool", kind: kindBool, base: "bool"},
		{name: "IpAddress", kind: kindIP, base: "ip"},
		{name: "NotIpAddress", kind: kindIP, base: "ip", neg: true},
		{name: "Null", kind: kindNull, base: "null"},
	}
	m := make(map[string]opInfo, len(list))
	for _, o := range list {
		m[strings.ToLower(o.name)] = o
	}
	return m
}()

// parsedOp is an operator split into its parts.
type parsedOp struct {
	info     opInfo
	set      string // "", "ForAnyValue" or "ForAllValues"
	ifExists bool
}

func (o parsedOp) String() string {
	s := o.info.name
	if o.ifExists {
		s += "IfExists"
	}
	if o.set != "" {
		s = o.set + ":" + s
	}
	return s
}

func parseOperator(op string) (parsedOp, bool) {
	var p parsedOp
	rest := op
	if q, r, ok := strings.Cut(op, ":"); ok {
		switch strings.ToLower(q) {
		case "foranyvalue":
			p.set = "ForAnyValue"
		case "forallvalues":
			p.set = "ForAllValues"
		default:
			return p, false
		}
		rest = r
	}
	lower := strings.ToLower(rest)
	if info, ok := operators[lower]; ok {
		p.info = info
		return p, true
	}
	if base, ok := strings.CutSuffix(lower, "ifexists"); ok {
		if info, ok := operators[base]; ok && info.kind != kindNull {
			p.info = info
			p.ifExists = true
			return p, true
		}
	}
	return p, false
}

func (p *docParser) conditions(raw any, path string) ([]Condition, error) {
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, docErr(path, "Condition must be an object of {operator: {key: values}}")
	}
	var out []Condition
	seen := map[[2]string]bool{}
	for _, opName := range sortedKeys(m) {
		opath := path + "." + opName
		op, ok := parseOperator(opName)
		if !ok {
			return nil, docErr(opath, "unknown condition operator %q", opName)
		}
		body, ok := m[opName].(map[string]any)
		if !ok {
			return nil, docErr(opath, "a condition operator must map to an object of {key: values}")
		}
		if len(body) == 0 {
			return nil, docErr(opath, "no condition keys")
		}
		for _, key := range sortedKeys(body) {
			kpath := opath + "." + key
			if !validConditionKey(key) {
				return nil, docErr(kpath, "condition key %q is not of the form <prefix>:<name>", key)
			}
			canon := op.String()
			lkey := strings.ToLower(key)
			if seen[[2]string{canon, lkey}] {
				return nil, docErr(kpath, "duplicate condition %s on %s (operators and keys are case-insensitive)", canon, key)
			}
			seen[[2]string{canon, lkey}] = true
			values, err := scalarList(body[key], kpath)
			if err != nil {
				return nil, err
			}
			for i, v := range values {
				n, err := p.conditionValue(op.info, v)
				if err != nil {
					return nil, docErr(fmt.Sprintf("%s[%d]", kpath, i), "%v", err)
				}
				values[i] = n
			}
			out = append(out, Condition{Operator: canon, Key: lkey, Values: values})
		}
	}
	slices.SortFunc(out, func(a, b Condition) int {
		if c := strings.Compare(a.Operator, b.Operator); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out, nil
}

func validConditionKey(k string) bool {
	prefix, name, ok := strings.Cut(k, ":")
	if !ok || prefix == "" || name == "" {
		return false
	}
	for _, r := range k {
		if r <= ' ' || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// conditionValue validates and normalises one condition value.
func (p *docParser) conditionValue(info opInfo, v string) (string, error) {
	switch info.kind {
	case kindString, kindLike, kindARN:
		if p.vars {
			if _, err := parseTemplate(v); err != nil {
				return "", err
			}
		}
		return v, nil
	case kindNumber:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return "", fmt.Errorf("%s needs a number, not %q", info.name, v)
		}
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	case kindDate:
		t, err := parseDate(v)
		if err != nil {
			return "", fmt.Errorf("%s: %v", info.name, err)
		}
		return t.Format(time.RFC3339Nano), nil
	case kindBool, kindNull:
		switch strings.ToLower(v) {
		case "true", "false":
			return strings.ToLower(v), nil
		}
		return "", fmt.Errorf("%s needs \"true\" or \"false\", not %q", info.name, v)
	case kindIP:
		pfx, err := parseCIDR(v)
		if err != nil {
			return "", fmt.Errorf("%s: %v", info.name, err)
		}
		return pfx.String(), nil
	}
	return "", fmt.Errorf("unsupported operator %s", info.name)
}

// parseCIDR accepts a CIDR block or a single address (as a /32 or /128).
func parseCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad CIDR %q", s)
		}
		return pfx.Masked(), nil
	}
	addr, err := netip.ParseAddr(s)
	if err != nil || addr.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("bad CIDR %q", s)
	}
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02",
}

// parseDate accepts the ISO 8601 forms IAM accepts and epoch seconds, and
// returns the time in UTC.
func parseDate(s string) (time.Time, error) {
	var t time.Time
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < -62135596800 || n > 253402300799 {
			return t, fmt.Errorf("date %q is out of range", s)
		}
		t = time.Unix(n, 0)
	} else {
		ok := false
		for _, layout := range dateLayouts {
			if t, err = time.Parse(layout, s); err == nil {
				ok = true
				break
			}
		}
		if !ok {
			return t, fmt.Errorf("bad date %q (use ISO 8601, e.g. 2025-01-31T00:00:00Z, or epoch seconds)", s)
		}
	}
	t = t.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return t, fmt.Errorf("date %q is out of range", s)
	}
	return t, nil
}

// templatePart is a literal string or a policy variable.
type templatePart struct {
	lit    string
	quoted bool   // lit came from ${*}, ${?} or ${$}: never a wildcard
	key    string // lower-cased condition key, when a variable
}

// parseTemplate splits s at its policy variables. It returns nil parts when
// s has none. ${*}, ${?} and ${$} stand for literal *, ? and $.
func parseTemplate(s string) ([]templatePart, error) {
	if !strings.Contains(s, "${") {
		return nil, nil
	}
	var parts []templatePart
	var lit strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			lit.WriteString(rest)
			break
		}
		lit.WriteString(rest[:i])
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("unterminated policy variable in %q", s)
		}
		name := strings.TrimSpace(rest[i+2 : i+j])
		rest = rest[i+j+1:]
		switch name {
		case "*", "?", "$":
			// A literal character: it never acts as a wildcard.
			if lit.Len() > 0 {
				parts = append(parts, templatePart{lit: lit.String()})
				lit.Reset()
			}
			parts = append(parts, templatePart{lit: name, quoted: true})
			continue
		}
		if strings.Contains(name, ",") {
			return nil, fmt.Errorf("policy variable defaults (${key, 'default'}) are not supported in %q", s)
		}
		if !validConditionKey(name) {
			return nil, fmt.Errorf("bad policy variable ${%s} in %q", name, s)
		}
		if lit.Len() > 0 {
			parts = append(parts, templatePart{lit: lit.String()})
			lit.Reset()
		}
		parts = append(parts, templatePart{key: strings.ToLower(name)})
	}
	if lit.Len() > 0 {
		parts = append(parts, templatePart{lit: lit.String()})
	}
	return parts, nil
}

func stringList(raw any, path string) ([]string, error) {
	switch v := raw.(type) {
	case string:
		if v == "" {
			return nil, docErr(path, "must not be empty")
		}
		return []string{v}, nil
	case []any:
		if len(v) == 0 {
			return nil, docErr(path, "must not be empty")
		}
		out := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok || s == "" {
				return nil, docErr(fmt.Sprintf("%s[%d]", path, i), "must be a non-empty string")
			}
			out[i] = s
		}
		return out, nil
	default:
		return nil, docErr(path, "must be a string or an array of strings")
	}
}

// scalarList reads condition values: a string, number or boolean, or a
// non-empty array of them.
func scalarList(raw any, path string) ([]string, error) {
	scalar := func(v any) (string, bool) {
		switch x := v.(type) {
		case string:
			return x, true
		case json.Number:
			return x.String(), true
		case bool:
			return strconv.FormatBool(x), true
		}
		return "", false
	}
	if arr, ok := raw.([]any); ok {
		if len(arr) == 0 {
			return nil, docErr(path, "no condition values")
		}
		out := make([]string, len(arr))
		for i, e := range arr {
			s, ok := scalar(e)
			if !ok {
				return nil, docErr(fmt.Sprintf("%s[%d]", path, i), "a condition value must be a string, number or boolean")
			}
			out[i] = s
		}
		return out, nil
	}
	s, ok := scalar(raw)
	if !ok {
		return nil, docErr(path, "condition values must be a string, number or boolean, or an array of them")
	}
	return []string{s}, nil
}

// MarshalJSON encodes d as IAM policy JSON.
func (d *Document) MarshalJSON() ([]byte, error) {
	type iamStatement struct {
		Sid          string                         `json:"Sid,omitempty"`
		Effect       string                         `json:"Effect"`
		Principal    any                            `json:"Principal,omitempty"`
		NotPrincipal any                            `json:"NotPrincipal,omitempty"`
		Action       []string                       `json:"Action,omitempty"`
		NotAction    []string                       `json:"NotAction,omitempty"`
		Resource     []string                       `json:"Resource,omitempty"`
		NotResource  []string                       `json:"NotResource,omitempty"`
		Condition    map[string]map[string][]string `json:"Condition,omitempty"`
	}
	type iamDocument struct {
		Version   string         `json:"Version,omitempty"`
		ID        string         `json:"Id,omitempty"`
		Statement []iamStatement `json:"Statement"`
	}
	principal := func(p *Principals) any {
		if p == nil {
			return nil
		}
		if len(p.Service) == 0 && len(p.AWS) == 1 && p.AWS[0] == "*" {
			return "*"
		}
		m := map[string][]string{}
		if len(p.AWS) > 0 {
			m["AWS"] = p.AWS
		}
		if len(p.Service) > 0 {
			m["Service"] = p.Service
		}
		return m
	}
	out := iamDocument{Version: d.Version, ID: d.ID, Statement: make([]iamStatement, len(d.Statement))}
	for i, s := range d.Statement {
		is := iamStatement{
			Sid: s.Sid, Effect: s.Effect,
			Principal: principal(s.Principal), NotPrincipal: principal(s.NotPrincipal),
			Action: s.Action, NotAction: s.NotAction,
			Resource: s.Resource, NotResource: s.NotResource,
		}
		if len(s.Condition) > 0 {
			is.Condition = map[string]map[string][]string{}
			for _, c := range s.Condition {
				if is.Condition[c.Operator] == nil {
					is.Condition[c.Operator] = map[string][]string{}
				}
				is.Condition[c.Operator][c.Key] = c.Values
			}
		}
		out.Statement[i] = is
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON parses IAM policy JSON into d, as ParsePolicyDocument does.
func (d *Document) UnmarshalJSON(b []byte) error {
	nd, err := ParsePolicyDocument(string(b))
	if err != nil {
		return err
	}
	*d = *nd
	return nil
}

// String returns d as IAM policy JSON.
func (d *Document) String() string {
	b, err := d.MarshalJSON()
	if err != nil {
		return fmt.Sprintf("<invalid document: %v>", err)
	}
	return string(b)
}

func docErr(loc, format string, args ...any) error {
	return &InvalidPolicyError{Location: loc, Reason: fmt.Sprintf(format, args...)}
}

func jsonErr(text string, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the bytes read, including the offending one.
		return docErr(offsetLocation(text, max(se.Offset-1, 0)), "JSON syntax error: %v", se)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return docErr(offsetLocation(text, int64(len(text))), "JSON syntax error: unexpected end of input")
	}
	return docErr("", "JSON error: %v", err)
}

// offsetLocation turns a byte offset into "line L, column C".
func offsetLocation(text string, off int64) string {
	if off > int64(len(text)) {
		off = int64(len(text))
	}
	line, col := 1, 1
	for _, r := range text[:off] {
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("line %d, column %d", line, col)
}

func quoteJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
