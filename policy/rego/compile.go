package rego

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// policyKind is where a document is attached; it decides which elements a
// statement must or must not have.
type policyKind int

const (
	repositoryPolicy policyKind = iota
	registryPolicy
	identityPolicy
)

func (k policyKind) String() string {
	switch k {
	case repositoryPolicy:
		return "repository policy"
	case registryPolicy:
		return "registry policy"
	default:
		return "identity policy"
	}
}

// checkKind checks what the policy kind requires of each statement:
// resource-based policies (repository, registry) name a Principal or
// NotPrincipal; identity policies must not. Registry and identity policies
// name a Resource or NotResource; in a repository policy it defaults to the
// repository.
func checkKind(d *Document, k policyKind) error {
	for i, s := range d.Statement {
		path := fmt.Sprintf("$.Statement[%d]", i)
		hasPrincipal := s.Principal != nil || s.NotPrincipal != nil
		hasResource := s.Resource != nil || s.NotResource != nil
		switch k {
		case identityPolicy:
			if hasPrincipal {
				return docErr(path, "an identity policy must not have a Principal or NotPrincipal")
			}
		default:
			if !hasPrincipal {
				return docErr(path, "a %s statement needs a Principal (or NotPrincipal)", k)
			}
		}
		if k != repositoryPolicy && !hasResource {
			return docErr(path, "a %s statement needs a Resource (or NotResource)", k)
		}
	}
	return nil
}

// knownActionNames are the ECR actions (API operations and permission-only
// actions), without the "ecr:" prefix. Each compiled statement records
// which of them it covers, so that selecting the statements for a request
// costs one bit test each.
var knownActionNames = []string{
	"BatchCheckLayerAvailability", "BatchDeleteImage", "BatchGetImage",
	"BatchGetRepositoryScanningConfiguration", "BatchImportUpstreamImage",
	"CompleteLayerUpload", "CreatePullThroughCacheRule", "CreateRepository",
	"CreateRepositoryCreationTemplate", "DeleteLifecyclePolicy", "DeletePullThroughCacheRule",
	"DeleteRegistryPolicy", "DeleteRepository", "DeleteRepositoryCreationTemplate",
	"DeleteRepositoryPolicy", "DeleteSigningConfiguration", "DeregisterPullTimeUpdateExclusion",
	"DescribeImageReplicationStatus", "DescribeImageScanFindings", "DescribeImageSigningStatus",
	"DescribeImages", "DescribePullThroughCacheRules", "DescribeRegistry", "DescribeRepositories",
	"DescribeRepositoryCreationTemplates", "GetAccountSetting", "GetAuthorizationToken",
	"GetDownloadUrlForLayer", "GetLifecyclePolicy", "GetLifecyclePolicyPreview", "GetRegistryPolicy",
	"GetRegistryScanningConfiguration", "GetRepositoryPolicy", "GetSigningConfiguration",
	"InitiateLayerUpload", "ListImageReferrers", "ListImages", "ListPullTimeUpdateExclusions",
	"ListTagsForResource", "PutAccountSetting", "PutImage", "PutImageScanningConfiguration",
	"PutImageTagMutability", "PutLifecyclePolicy", "PutRegistryPolicy",
	"PutRegistryScanningConfiguration", "PutReplicationConfiguration", "PutSigningConfiguration",
	"RegisterPullTimeUpdateExclusion", "ReplicateImage", "SetRepositoryPolicy", "StartImageScan",
	"StartLifecyclePolicyPreview", "TagResource", "UntagResource", "UpdateImageStorageClass",
	"UpdatePullThroughCacheRule", "UpdateRepositoryCreationTemplate", "UploadLayerPart",
	"ValidatePullThroughCacheRule",
}

var (
	knownActions []string       // lower-cased, in knownActionNames order
	actionIndex  map[string]int // canonical and lower-cased spelling → index in knownActions
	actionTerms  []*ast.Term    // canonical spelling ("ecr:BatchGetImage"), as input terms
)

func init() {
	if len(knownActionNames) > 128 {
		panic("rego: actionSet holds at most 128 actions")
	}
	actionIndex = make(map[string]int, 2*len(knownActionNames))
	for i, n := range knownActionNames {
		l := "ecr:" + strings.ToLower(n)
		knownActions = append(knownActions, l)
		actionIndex[l] = i
		actionIndex["ecr:"+n] = i
		actionTerms = append(actionTerms, ast.StringTerm("ecr:"+n))
	}
}

// actionKey returns the lower-cased action and its index in knownActions,
// or -1 if it is not a known action. It does not allocate for the canonical
// spelling of a known action.
func actionKey(action string) (string, int) {
	if i, ok := actionIndex[action]; ok {
		return knownActions[i], i
	}
	l := strings.ToLower(action)
	if i, ok := actionIndex[l]; ok {
		return l, i
	}
	return l, -1
}

// actionSet is a set of known actions, by index.
type actionSet [2]uint64

func (s *actionSet) add(i int)      { s[i/64] |= 1 << (i % 64) }
func (s *actionSet) has(i int) bool { return s[i/64]&(1<<(i%64)) != 0 }

// document is a compiled policy document: its text, as set, and its
// statements in the form the Rego policies evaluate.
type document struct {
	text        string
	allow, deny []compiledStatement
}

// compiledStatement is a statement in the form the Rego policies evaluate
// (term), with what the Authorizer needs to select it as a candidate for a
// request: the actions it covers, and the principal ARNs it names. The
// selection only prunes: it matches the action exactly, and leaves every
// principal that is not named by ARN ("*", accounts, NotPrincipal) to the
// Rego policies, which also check resources and conditions.
type compiledStatement struct {
	term     *ast.Term
	actions  actionSet // the known actions its Action or NotAction covers
	unknown  bool      // it may cover actions outside knownActions
	s        Statement // for matching unknown actions
	arns     []string  // indexARNs(s)
	usesTime bool      // statementUsesTime(s): its decision may depend on the time
	fast     fastKind  // its "fast" field, which the input's "has" flags summarise
}

// fastKind is a statement's "fast" field: what the Rego policies have left
// to check (see statementValue).
type fastKind uint8

const (
	fastFull       fastKind = iota // "": principal, resource and conditions
	fastNone                       // "none": nothing
	fastAnyone                     // "anyone": only that "*" names the caller
	fastCond                       // "cond": only the conditions
	fastAnyoneCond                 // "anyone_cond": that "*" names the caller, and the conditions
	numFastKinds
)

// fastNames are the names of the kinds in the input's "has" flags.
var fastNames = [numFastKinds]string{"full", "none", "anyone", "cond", "anyone_cond"}

func fastOf(v ast.Value) fastKind {
	if obj, ok := v.(ast.Object); ok {
		if t := obj.Get(ast.InternedTerm("fast")); t != nil {
			for k, name := range fastNames {
				if k != int(fastFull) && t.Value.Compare(ast.String(name)) == 0 {
					return fastKind(k)
				}
			}
		}
	}
	return fastFull
}

// candidates appends to dst the statements of list whose action elements
// cover action (lower-cased, with its index in knownActions or -1) and that
// may apply to a principal with the given ARNs. It sets *usesTime if one
// of them may depend on the time, and has[k] if one is of fastKind k.
func candidates(dst []*ast.Term, list []compiledStatement, action string, idx int, arns []string, usesTime *bool, has *[numFastKinds]bool) []*ast.Term {
	for i := range list {
		cs := &list[i]
		if idx >= 0 {
			if !cs.actions.has(idx) {
				continue
			}
		} else if !cs.unknown || !statementCoversAction(cs.s, action) {
			continue
		}
		if cs.arns != nil && !slices.ContainsFunc(arns, func(a string) bool { return slices.Contains(cs.arns, a) }) {
			continue
		}
		*usesTime = *usesTime || cs.usesTime
		has[cs.fast] = true
		dst = append(dst, cs.term)
	}
	return dst
}

// indexARNs returns the principal ARNs that select a statement: those of a
// Principal element that names only user, group or role ARNs. Such a
// statement applies to exactly the callers with one of these ARNs. It
// returns nil for every other statement, which may apply to anyone and
// whose principal the Rego policies check.
func indexARNs(s Statement) []string {
	p := s.Principal
	if p == nil || len(p.Service) > 0 || len(p.AWS) == 0 {
		return nil
	}
	for _, a := range p.AWS {
		if a == "*" || strings.HasSuffix(a, ":root") {
			return nil
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(p.AWS)))
}

// compileDocument turns a normalised document into its compiled form.
// source names the document in reasons (`repository policy "team/app"`).
//
// Each statement becomes an object that the Rego policies evaluate (see
// statementValue); the Go side selects the statements that cover a
// request's action, so the Rego policies never match actions.
func compileDocument(d *Document, k policyKind, source, text string) (*document, error) {
	vars := d.Version == Version2012
	doc := &document{text: text}
	for _, g := range []struct {
		effect string
		dst    *[]compiledStatement
		prefix string
	}{{"Allow", &doc.allow, "allowed by "}, {"Deny", &doc.deny, "denied by "}} {
		for i, s := range d.Statement {
			if s.Effect != g.effect {
				continue
			}
			label := fmt.Sprintf("Statement[%d]", i)
			if s.Sid != "" {
				label = fmt.Sprintf("statement %q", s.Sid)
			}
			v, err := ast.InterfaceToValue(statementValue(s, k, vars, g.prefix+source+": "+label))
			if err != nil {
				return nil, err
			}
			cs := compiledStatement{term: ast.NewTerm(v), unknown: mayCoverUnknownAction(s), s: s, arns: indexARNs(s), usesTime: statementUsesTime(s), fast: fastOf(v)}
			for i, a := range knownActions {
				if statementCoversAction(s, a) {
					cs.actions.add(i)
				}
			}
			*g.dst = append(*g.dst, cs)
		}
	}
	return doc, nil
}

// statementCoversAction reports whether the Action or NotAction element of
// s covers the lower-cased action a.
func statementCoversAction(s Statement, a string) bool {
	if s.Action != nil {
		return slices.ContainsFunc(s.Action, func(p string) bool { return wildcardMatch(p, a) })
	}
	return !slices.ContainsFunc(s.NotAction, func(p string) bool { return wildcardMatch(p, a) })
}

// mayCoverUnknownAction reports whether s may cover an action outside
// knownActions.
func mayCoverUnknownAction(s Statement) bool {
	if s.Action == nil {
		return true // NotAction covers everything it does not list
	}
	for _, p := range s.Action {
		if _, ok := actionIndex[p]; !ok || strings.ContainsAny(p, "*?") {
			return true
		}
	}
	return false
}

// wildcardMatch matches s against an IAM pattern in which * matches any
// run of characters and ? any one character.
func wildcardMatch(pattern, s string) bool {
	// Iterative matching with backtracking to the last star.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// statementValue is the object the Rego policies evaluate for statement s:
//
//	{
//	  "reason":        "allowed by <source>: statement \"Sid\"" (or "Statement[i]"),
//	  "identity":      true for identity policy statements, which need no principal match,
//	  "principal":     {"any": bool, "arns": {arn: true}, "accounts": {id: true}},  (optional)
//	  "not_principal": same,                                                         (optional)
//	  "resource" | "not_resource": patternset,
//	  "conditions":    [condition...],
//	  "simple":        true when there is nothing to check beyond the principal,
//	  "fast":          "none", "anyone", "cond", "anyone_cond" or "" (see below)
//	}
//
// A patternset is {"any": true, "exact": {s: true}, "prefix": [s],
// "glob": [pattern], "arnglob": [pattern with ':' delimiters], "tmpl":
// [{"k": "glob"|"arnglob"|"equal"|"iequal", "parts": [string | {"var": key}]}]},
// with empty members omitted. A condition is
//
//	{"op": primitive, "neg": bool, "key": key, "vals": [...],
//	 "absent": result when the key is absent, "present": result of Null when present}
//
// where for the string and ARN operators vals holds one patternset. Set
// qualifiers (ForAnyValue, ForAllValues) only change the absent result:
// the request context has single-valued keys only.
//
// This shape is internal to the package and may change between versions.
func statementValue(s Statement, k policyKind, vars bool, reason string) map[string]any {
	conds := make([]any, 0, len(s.Condition))
	for _, c := range s.Condition {
		conds = append(conds, compileCondition(c, vars))
	}
	m := map[string]any{"reason": reason, "conditions": conds, "identity": k == identityPolicy}
	if s.Principal != nil {
		m["principal"] = compilePrincipals(s.Principal)
	}
	if s.NotPrincipal != nil {
		m["not_principal"] = compilePrincipals(s.NotPrincipal)
	}
	anyResource := false
	switch {
	case s.Resource != nil:
		m["resource"] = compilePatternSet(s.Resource, matchGlob, vars)
		anyResource = slices.Contains(s.Resource, "*")
	case s.NotResource != nil:
		m["not_resource"] = compilePatternSet(s.NotResource, matchGlob, vars)
	case k == repositoryPolicy:
		// A repository policy is consulted only for requests on its own
		// repository, which is its implicit resource.
		m["resource"] = map[string]any{"any": true}
		anyResource = true
	}
	simple := anyResource && len(conds) == 0
	m["simple"] = simple
	// fast tells the Rego policies what is left to check when the
	// statement covers any resource: "none" (nothing) or "cond" (its
	// conditions) when the statement is an identity statement or names the
	// caller by ARN (candidates selects such statements only for callers
	// with one of those ARNs), "anyone" (that "*" names the caller) or
	// "anyone_cond" (that and its conditions) when its principal is "*".
	// "" leaves everything to check.
	fast := ""
	switch {
	case !anyResource:
	case k == identityPolicy || indexARNs(s) != nil:
		fast = "none"
		if !simple {
			fast = "cond"
		}
	case s.Principal != nil && len(s.Principal.Service) == 0 && slices.Equal(s.Principal.AWS, []string{"*"}):
		fast = "anyone"
		if !simple {
			fast = "anyone_cond"
		}
	}
	m["fast"] = fast
	return m
}

func compilePrincipals(p *Principals) map[string]any {
	out := map[string]any{"any": false}
	arns := map[string]any{}
	accounts := map[string]any{}
	for _, a := range p.AWS {
		if a == "*" {
			out["any"] = true
			continue
		}
		parts := strings.SplitN(a, ":", 6)
		if len(parts) == 6 && parts[2] == "iam" && parts[5] == "root" {
			accounts[parts[4]] = true
			continue
		}
		arns[a] = true
	}
	out["arns"] = arns
	out["accounts"] = accounts
	return out
}

// matchMode is how a pattern's wildcards behave.
type matchMode int

const (
	matchEqual      matchMode = iota // no wildcards; exact comparison
	matchEqualLower                  // no wildcards; compare lower-cased
	matchGlob                        // * and ? match any characters
	matchARN                         // * and ? stay within one ':'-separated ARN segment
)

// compilePatternSet compiles patterns to the cheapest matchers that
// implement them.
func compilePatternSet(list []string, mode matchMode, vars bool) map[string]any {
	exact := map[string]any{}
	var prefix, glob, arnglob, tmpl []any
	anything := false
	for _, s := range list {
		if vars {
			if parts, _ := parseTemplate(s); parts != nil {
				tmpl = append(tmpl, compileTemplate(parts, mode))
				continue
			}
		}
		switch {
		case mode == matchEqual:
			exact[s] = true
		case mode == matchEqualLower:
			exact[strings.ToLower(s)] = true
		case s == "*":
			anything = true
		case !strings.ContainsAny(s, "*?"):
			exact[s] = true
		case mode == matchARN:
			arnglob = append(arnglob, globPattern(s))
		default:
			if p := strings.TrimRight(s, "*"); len(p) < len(s) && !strings.ContainsAny(p, "*?") {
				prefix = append(prefix, p)
			} else {
				glob = append(glob, globPattern(s))
			}
		}
	}
	ps := map[string]any{}
	if anything {
		ps["any"] = true
	}
	if len(exact) > 0 {
		ps["exact"] = exact
	}
	for k, v := range map[string][]any{"prefix": prefix, "glob": glob, "arnglob": arnglob, "tmpl": tmpl} {
		if len(v) > 0 {
			ps[k] = v
		}
	}
	return ps
}

func compileTemplate(parts []templatePart, mode matchMode) map[string]any {
	out := make([]any, 0, len(parts))
	for _, p := range parts {
		switch {
		case p.key != "":
			out = append(out, map[string]any{"var": p.key})
		case mode == matchEqual || mode == matchEqualLower:
			out = append(out, p.lit)
		case p.quoted:
			out = append(out, quoteGlob(p.lit))
		default:
			out = append(out, globPattern(p.lit))
		}
	}
	kind := map[matchMode]string{matchEqual: "equal", matchEqualLower: "iequal", matchGlob: "glob", matchARN: "arnglob"}[mode]
	return map[string]any{"k": kind, "parts": out}
}

// globPattern turns an IAM wildcard pattern into a glob.match pattern:
// characters glob treats specially, other than * and ?, are escaped, and
// runs of * collapse to one (glob's ** would cross delimiters).
func globPattern(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\', '[', ']', '{', '}':
			b.WriteByte('\\')
		case '*':
			if i > 0 && s[i-1] == '*' {
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// quoteGlob escapes every glob metacharacter in s.
func quoteGlob(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\', '[', ']', '{', '}', '*', '?':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func compileCondition(c Condition, vars bool) map[string]any {
	op, _ := parseOperator(c.Operator)
	m := map[string]any{
		"op":  op.info.base,
		"neg": op.info.neg,
		"key": c.Key,
		// The result when the key is absent from the request context.
		"absent": op.ifExists || op.info.neg || op.set == "ForAllValues",
	}
	switch op.info.kind {
	case kindNull:
		m["absent"] = slices.Contains(c.Values, "true")
		m["present"] = slices.Contains(c.Values, "false")
		m["vals"] = []any{}
	case kindString, kindLike, kindARN:
		mode := map[valueKind]matchMode{kindString: matchEqual, kindLike: matchGlob, kindARN: matchARN}[op.info.kind]
		if op.info.lower {
			mode = matchEqualLower
		}
		m["vals"] = []any{compilePatternSet(c.Values, mode, vars)}
	default:
		vals := make([]any, 0, len(c.Values))
		for _, v := range c.Values {
			vals = append(vals, compileValue(op.info, v))
		}
		m["vals"] = vals
	}
	return m
}

// compileValue turns a normalised numeric, date, boolean or CIDR condition
// value into what the Rego primitive for its operator compares against.
func compileValue(info opInfo, v string) any {
	switch info.kind {
	case kindNumber:
		f, _ := strconv.ParseFloat(v, 64)
		return f
	case kindDate:
		// Nanoseconds since the epoch, as an arbitrary-precision number:
		// years 1 to 9999 overflow an int64.
		t, _ := time.Parse(time.RFC3339Nano, v)
		ns := new(big.Int).Mul(big.NewInt(t.Unix()), big.NewInt(1e9))
		ns.Add(ns, big.NewInt(int64(t.Nanosecond())))
		return json.Number(ns.String())
	default: // bool, null, ip: normalised strings
		return v
	}
}
