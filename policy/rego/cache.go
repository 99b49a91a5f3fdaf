package rego

import (
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/berth-dev/berth/policy"
)

// DefaultDecisionCacheSize is the DecisionCacheSize an Authorizer uses when
// Options.DecisionCacheSize is zero.
const DefaultDecisionCacheSize = 16384

// decisionCache holds the decisions of one snapshot (one policy set and
// module set), by decisionKey. It is bounded: each of its shards keeps two
// generations of at most size/shards entries each (a hit in the older
// moves the entry to the newer), and drops the older generation when the
// newer is full, so that it holds at most 2×size decisions. See the
// package documentation for why a cached decision is the decision an
// evaluation would return.
type decisionCache struct {
	seed   maphash.Seed
	shards [16]cacheShard
	max    int // entries per generation per shard
}

type cacheShard struct {
	mu       sync.Mutex
	cur, old map[string]policy.Decision
}

// newDecisionCache returns a cache for size to 2×size decisions, or nil if
// size is not positive.
func newDecisionCache(size int) *decisionCache {
	if size <= 0 {
		return nil
	}
	c := &decisionCache{seed: maphash.MakeSeed()}
	c.max = max(1, size/len(c.shards))
	return c
}

func (c *decisionCache) shard(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)%uint64(len(c.shards))]
}

// get returns the decision cached for key, as a copy the caller may keep.
func (c *decisionCache) get(key string) (policy.Decision, bool) {
	s := c.shard(key)
	s.mu.Lock()
	d, ok := s.cur[key]
	if !ok {
		if d, ok = s.old[key]; ok {
			s.put(key, d, c.max)
		}
	}
	s.mu.Unlock()
	if ok {
		d.Reasons = slices.Clone(d.Reasons)
	}
	return d, ok
}

// put caches a copy of d for key.
func (c *decisionCache) put(key string, d policy.Decision) {
	d.Reasons = slices.Clone(d.Reasons)
	s := c.shard(key)
	s.mu.Lock()
	s.put(key, d, c.max)
	s.mu.Unlock()
}

func (s *cacheShard) put(key string, d policy.Decision, max int) {
	if s.cur == nil {
		s.cur = make(map[string]policy.Decision, max)
	}
	if len(s.cur) >= max {
		s.old, s.cur = s.cur, make(map[string]policy.Decision, max)
	}
	s.cur[key] = d
}

// decisionKey encodes every field of in that a decision may depend on,
// other than the time, and the repository's resource tags: the principal
// (whether there is one, ID, Name, Groups in order, Attributes), Version,
// Action, Repository, Reference and SourceIP, each exactly as given. Every
// string is length-prefixed, so distinct inputs have distinct keys.
func decisionKey(in policy.Input, tags map[string]string) string {
	var b strings.Builder
	b.Grow(128)
	str := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	b.WriteString(strconv.Itoa(in.Version))
	b.WriteByte('|')
	str(in.Action)
	str(in.Repository)
	str(in.Reference)
	str(in.SourceIP)
	if p := in.Principal; p == nil {
		b.WriteByte('-')
	} else {
		b.WriteByte('+')
		str(p.ID)
		str(p.Name)
		b.WriteString(strconv.Itoa(len(p.Groups)))
		b.WriteByte('g')
		for _, g := range p.Groups {
			str(g)
		}
		b.WriteString(strconv.Itoa(len(p.Attributes)))
		b.WriteByte('a')
		for _, k := range sortedKeys(p.Attributes) {
			str(k)
			str(p.Attributes[k])
		}
	}
	b.WriteString(strconv.Itoa(len(tags)))
	b.WriteByte('t')
	for _, k := range sortedKeys(tags) {
		str(k)
		str(tags[k])
	}
	return b.String()
}

// statementUsesTime reports whether the outcome of s may depend on the
// time of the request: it has a Date operator, or names aws:CurrentTime or
// aws:EpochTime as a condition key or as a policy variable in a resource or
// condition value. The test is conservative (it matches the key names
// anywhere in a value).
func statementUsesTime(s Statement) bool {
	mentions := func(v string) bool {
		v = strings.ToLower(v)
		return strings.Contains(v, "aws:currenttime") || strings.Contains(v, "aws:epochtime")
	}
	for _, c := range s.Condition {
		if op, _ := parseOperator(c.Operator); op.info.kind == kindDate {
			return true
		}
		if mentions(c.Key) || slices.ContainsFunc(c.Values, mentions) {
			return true
		}
	}
	return slices.ContainsFunc(s.Resource, mentions) || slices.ContainsFunc(s.NotResource, mentions)
}

// timeDependentBuiltins are deterministic builtins whose result depends on
// the current time.
var timeDependentBuiltins = []string{"io.jwt.decode_verify", "crypto.x509.parse_and_verify_certificates"}

// modulesCacheable reports whether the custom modules (those of c not named
// berth/...) compute the same result for requests with the same
// decisionKey: they refer to the input only by input.<field> for fields
// other than time and context (which holds aws:CurrentTime and
// aws:EpochTime), and call no nondeterministic or time-dependent builtin
// (time.now_ns, http.send, rand.intn, io.jwt.decode_verify, ...).
func modulesCacheable(c *ast.Compiler) bool {
	ok := true
	for name, m := range c.Modules {
		if strings.HasPrefix(name, "berth/") {
			continue
		}
		heads := map[*ast.Term]bool{}
		ast.NewGenericVisitor(func(x any) bool {
			if !ok {
				return true
			}
			switch x := x.(type) {
			case ast.Ref:
				if len(x) > 0 && x[0].Equal(ast.InputRootDocument) {
					heads[x[0]] = true
					field, isStr := ast.String(""), false
					if len(x) > 1 {
						field, isStr = x[1].Value.(ast.String)
					}
					if !isStr || field == "time" || field == "context" {
						ok = false
					}
				}
			case *ast.Term:
				if v, isVar := x.Value.(ast.Var); isVar && v == ast.InputRootDocument.Value && !heads[x] {
					ok = false // the whole input, as a value
				}
			case *ast.Expr:
				if x.IsCall() && !builtinCacheable(x.Operator()) {
					ok = false
				}
			case ast.Call:
				if len(x) > 0 {
					if r, isRef := x[0].Value.(ast.Ref); isRef && !builtinCacheable(r) {
						ok = false
					}
				}
			}
			return false
		}).Walk(m)
		if !ok {
			return false
		}
	}
	return true
}

func builtinCacheable(op ast.Ref) bool {
	name := op.String()
	b, ok := ast.BuiltinMap[name]
	if !ok {
		return true // a rule of the modules, which are walked themselves
	}
	if b.Nondeterministic {
		return false
	}
	for _, p := range timeDependentBuiltins {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	return true
}
