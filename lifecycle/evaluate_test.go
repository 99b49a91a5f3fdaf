package lifecycle_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/lifecycle"
)

// policy1 is a one-rule policy text.
func policy1(selection string) string {
	return pad(`{"rules":[{"rulePriority":1,"selection":{` + selection + `},"action":{"type":"expire"}}]}`)
}

func TestEvaluateSemantics(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		images []img
		want   map[string]expiry
	}{
		{
			name:   "sinceImagePushed counts whole days",
			policy: policy1(`"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":2`),
			images: []img{
				{name: "future", pushed: -day},
				{name: "now", pushed: 0},
				{name: "2d", pushed: 2 * day},
				{name: "2d23h59m", pushed: 3*day - time.Minute},
				{name: "3d", pushed: 3 * day},
				{name: "1y", pushed: 365 * day},
			},
			want: byRule(1, "3d", "1y"),
		},
		{
			name:   "sinceImagePulled uses the last pull, or the push when never pulled",
			policy: policy1(`"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":30`),
			images: []img{
				{name: "old, pulled yesterday", pushed: 400 * day, pulled: day},
				{name: "old, pulled 31d ago", pushed: 400 * day, pulled: 31 * day},
				{name: "old, never pulled", pushed: 40 * day},
				{name: "new, never pulled", pushed: 3 * day},
				{name: "pull before push (bad clock)", pushed: 2 * day, pulled: 90 * day},
			},
			want: byRule(1, "old, pulled 31d ago", "old, never pulled"),
		},
		{
			name:   "imageCountMoreThan keeps the newest pushes, whatever the pulls",
			policy: policy1(`"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":2`),
			images: []img{
				{name: "v1", tags: []string{"v1"}, pushed: 5 * day, pulled: time.Minute},
				{name: "v2", tags: []string{"v2"}, pushed: 4 * day},
				{name: "v3", tags: []string{"v3"}, pushed: 3 * day},
				{name: "v4", tags: []string{"v4", "latest"}, pushed: 2 * day},
				{name: "other", tags: []string{"latest-x"}, pushed: 10 * day},
			},
			want: byRule(1, "v1", "v2"),
		},
		{
			name: "a keep-forever rule shields the images it selects",
			policy: pad(`{"rules":[
				{"rulePriority":1,"description":"keep releases","selection":{"tagStatus":"tagged","tagPatternList":["v*.*.*"],"countType":"imageCountMoreThan","countNumber":9999},"action":{"type":"expire"}},
				{"rulePriority":2,"selection":{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}}]}`),
			images: []img{
				{name: "release", tags: []string{"v1.2.3", "sha-abc"}, pushed: 100 * day},
				{name: "not a release", tags: []string{"v1.2", "sha-def"}, pushed: 100 * day},
				{name: "untagged", pushed: 100 * day},
				{name: "new", tags: []string{"sha-123"}, pushed: day},
			},
			want: byRule(2, "not a release", "untagged"),
		},
		{
			name:   "patterns match whole tags; several patterns must all match",
			policy: policy1(`"tagStatus":"tagged","tagPatternList":["*test*","*-2*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1`),
			images: []img{
				{name: "one tag, both", tags: []string{"my-test-2"}, pushed: 9 * day},
				{name: "two tags", tags: []string{"test", "x-2"}, pushed: 9 * day},
				{name: "only test", tags: []string{"latest", "testing"}, pushed: 9 * day},
				{name: "only -2", tags: []string{"v-2"}, pushed: 9 * day},
			},
			want: byRule(1, "one tag, both", "two tags"),
		},
		{
			name:   "four wildcards",
			policy: policy1(`"tagStatus":"tagged","tagPatternList":["*test*1*2*3"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1`),
			images: []img{
				{name: "a", tags: []string{"test123"}, pushed: 9 * day},
				{name: "b", tags: []string{"xtestx1x2x3"}, pushed: 9 * day},
				{name: "c", tags: []string{"test1233"}, pushed: 9 * day},
				{name: "d", tags: []string{"test3-2-1"}, pushed: 9 * day},
				{name: "e", tags: []string{"test12"}, pushed: 9 * day},
			},
			want: byRule(1, "a", "b", "c"),
		},
		{
			name:   "patterns are case-sensitive and '?' is literal",
			policy: policy1(`"tagStatus":"tagged","tagPatternList":["Prod?*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1`),
			images: []img{
				{name: "a", tags: []string{"Prod?1"}, pushed: 9 * day},
				{name: "b", tags: []string{"prod?1"}, pushed: 9 * day},
				{name: "c", tags: []string{"Prodx1"}, pushed: 9 * day},
			},
			want: byRule(1, "a"),
		},
		{
			name:   "duplicate digests: the first entry counts",
			policy: policy1(`"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1`),
			images: []img{
				{name: "a", pushed: 3 * day},
				{name: "b", pushed: 2 * day},
				{name: "a", pushed: 1 * day},
			},
			want: byRule(1, "a"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lifecycle.Evaluate(mustParse(t, tt.policy), images(tt.images), now)
			checkResults(t, tt.images, got, tt.want)
		})
	}
}

// graphPolicy: rule 1 expires "v*" images older than 5 days; rule 2 (when
// withUntagged) expires untagged images older than 1 day; rule 3 keeps one
// image of any kind.
func graphPolicy(withUntagged, withAny bool) string {
	rules := []string{`{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"sinceImagePushed","countUnit":"days","countNumber":5},"action":{"type":"expire"}}`}
	if withUntagged {
		rules = append(rules, `{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}`)
	}
	if withAny {
		rules = append(rules, `{"rulePriority":3,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}`)
	}
	return pad(`{"rules":[` + strings.Join(rules, ",") + `]}`)
}

func TestEvaluateIndexChildren(t *testing.T) {
	tests := []struct {
		name         string
		withUntagged bool
		withAny      bool
		images       []img
		want         map[string]expiry
	}{
		{
			name:         "children of a kept index are kept though a rule marks them",
			withUntagged: true,
			images: []img{
				{name: "index", tags: []string{"latest"}, pushed: 10 * day, children: []string{"amd64", "arm64"}},
				{name: "amd64", pushed: 10 * day},
				{name: "arm64", pushed: 10 * day},
				{name: "stray", pushed: 10 * day},
			},
			want: byRule(2, "stray"),
		},
		{
			name:         "children marked by their own rule expire by it once the index expires",
			withUntagged: true,
			images: []img{
				{name: "index", tags: []string{"v1"}, pushed: 10 * day, children: []string{"amd64", "arm64"}},
				{name: "amd64", pushed: 10 * day},
				{name: "arm64", pushed: 10 * day},
			},
			want: merge(byRule(1, "index"), byRule(2, "amd64", "arm64")),
		},
		{
			name: "untagged children no rule marks go with their index",
			images: []img{
				{name: "index", tags: []string{"v1"}, pushed: 10 * day, children: []string{"amd64", "arm64", "amd64"}},
				{name: "amd64", pushed: 10 * day},
				{name: "arm64", pushed: 10 * day},
			},
			want: map[string]expiry{
				"index": {priority: 1},
				"amd64": {priority: 1, via: "index"},
				"arm64": {priority: 1, via: "index"},
			},
		},
		{
			name: "a tagged child no rule marks stays",
			images: []img{
				{name: "index", tags: []string{"v1"}, pushed: 10 * day, children: []string{"amd64", "arm64"}},
				{name: "amd64", tags: []string{"amd64-latest"}, pushed: 10 * day},
				{name: "arm64", pushed: 10 * day},
			},
			want: map[string]expiry{
				"index": {priority: 1},
				"arm64": {priority: 1, via: "index"},
			},
		},
		{
			name: "a child shared with a kept index stays",
			images: []img{
				{name: "old", tags: []string{"v1"}, pushed: 10 * day, children: []string{"amd64", "arm64-old"}},
				{name: "new", tags: []string{"latest"}, pushed: 1 * day, children: []string{"amd64", "arm64-new"}},
				{name: "amd64", pushed: 10 * day},
				{name: "arm64-old", pushed: 10 * day},
				{name: "arm64-new", pushed: 1 * day},
			},
			want: map[string]expiry{
				"old":       {priority: 1},
				"arm64-old": {priority: 1, via: "old"},
			},
		},
		{
			name:    "a child shared by two expiring indexes names the higher-priority one",
			withAny: true,
			images: []img{
				// Rule 3 keeps "shared" (the newest push), yet it is an
				// untagged child of two expiring indexes.
				{name: "i1", tags: []string{"v1"}, pushed: 10 * day, children: []string{"shared"}},
				{name: "i2", tags: []string{"x1"}, pushed: 2 * day, children: []string{"shared"}},
				{name: "shared", pushed: 0},
			},
			want: map[string]expiry{
				"i1":     {priority: 1},
				"i2":     {priority: 3},
				"shared": {priority: 1, via: "i1"},
			},
		},
		{
			name: "nested indexes cascade",
			images: []img{
				{name: "top", tags: []string{"v1"}, pushed: 10 * day, children: []string{"mid"}},
				{name: "mid", pushed: 10 * day, children: []string{"leaf1", "leaf2"}},
				{name: "leaf1", pushed: 10 * day},
				{name: "leaf2", pushed: 10 * day},
			},
			want: map[string]expiry{
				"top":   {priority: 1},
				"mid":   {priority: 1, via: "top"},
				"leaf1": {priority: 1, via: "mid"},
				"leaf2": {priority: 1, via: "mid"},
			},
		},
		{
			name: "children absent from the set and self references are ignored",
			images: []img{
				{name: "index", tags: []string{"v1"}, pushed: 10 * day, children: []string{"index", "gone"}},
			},
			want: byRule(1, "index"),
		},
		{
			name:         "a reference cycle keeps its members",
			withUntagged: true,
			images: []img{
				{name: "a", tags: []string{"v1"}, pushed: 10 * day, children: []string{"b"}},
				{name: "b", tags: []string{"v2"}, pushed: 10 * day, children: []string{"a"}},
				{name: "c", pushed: 10 * day, children: []string{"c2"}},
				{name: "c2", pushed: 10 * day, children: []string{"c"}},
			},
			want: nil,
		},
		{
			name:    "children are counted by count rules (ECR lists them as images)",
			withAny: true,
			images: []img{
				{name: "index", tags: []string{"latest"}, pushed: 2 * day, children: []string{"amd64"}},
				{name: "amd64", pushed: 2*day + time.Second},
				{name: "solo", tags: []string{"x"}, pushed: 3 * day},
			},
			want: byRule(3, "solo"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lifecycle.Evaluate(mustParse(t, graphPolicy(tt.withUntagged, tt.withAny)), images(tt.images), now)
			if tt.want == nil {
				tt.want = map[string]expiry{}
			}
			checkResults(t, tt.images, got, tt.want)
		})
	}
}

func TestEvaluateReferrers(t *testing.T) {
	tests := []struct {
		name         string
		withUntagged bool
		withAny      bool
		images       []img
		want         map[string]expiry
	}{
		{
			name: "referrers go with their subject",
			images: []img{
				{name: "image", tags: []string{"v1"}, pushed: 10 * day},
				{name: "sig", pushed: 10 * day, subject: "image"},
				{name: "sbom", tags: []string{"v1.sbom"}, pushed: 10 * day, subject: "image"},
			},
			want: map[string]expiry{
				"image": {priority: 1},
				"sig":   {priority: 1, via: "image"},
				"sbom":  {priority: 1, via: "image"},
			},
		},
		{
			name:         "referrers of a kept subject stay, though an untagged rule would mark them",
			withUntagged: true,
			images: []img{
				{name: "image", tags: []string{"latest"}, pushed: 10 * day},
				{name: "sig", pushed: 10 * day, subject: "image"},
			},
			want: map[string]expiry{},
		},
		{
			name:    "referrers are not counted: a signature is never the image kept",
			withAny: true,
			images: []img{
				{name: "newest", tags: []string{"b"}, pushed: 2 * day},
				{name: "older", tags: []string{"a"}, pushed: 3 * day},
				{name: "sig-newest", pushed: 1 * day, subject: "newest"},
				{name: "sig-older", pushed: 1 * day, subject: "older"},
			},
			want: map[string]expiry{
				"older":     {priority: 3},
				"sig-older": {priority: 3, via: "older"},
			},
		},
		{
			name: "chains of referrers",
			images: []img{
				{name: "image", tags: []string{"v1"}, pushed: 10 * day},
				{name: "sbom", pushed: 10 * day, subject: "image"},
				{name: "sbom-sig", pushed: 10 * day, subject: "sbom"},
			},
			want: map[string]expiry{
				"image":    {priority: 1},
				"sbom":     {priority: 1, via: "image"},
				"sbom-sig": {priority: 1, via: "sbom"},
			},
		},
		{
			name: "referrers of an index and of its children",
			images: []img{
				{name: "index", tags: []string{"v1"}, pushed: 10 * day, children: []string{"amd64"}},
				{name: "amd64", pushed: 10 * day},
				{name: "index-sig", pushed: 10 * day, subject: "index"},
				{name: "amd64-att", pushed: 10 * day, subject: "amd64"},
			},
			want: map[string]expiry{
				"index":     {priority: 1},
				"amd64":     {priority: 1, via: "index"},
				"index-sig": {priority: 1, via: "index"},
				"amd64-att": {priority: 1, via: "amd64"},
			},
		},
		{
			name: "a referrer listed by a kept index stays with the index",
			images: []img{
				{name: "image", tags: []string{"v1"}, pushed: 10 * day},
				{name: "att", pushed: 10 * day, subject: "image"},
				{name: "bundle", tags: []string{"keep"}, pushed: 1 * day, children: []string{"att"}},
			},
			want: byRule(1, "image"),
		},
		{
			name:         "a referrer whose subject is gone is an ordinary image",
			withUntagged: true,
			images: []img{
				{name: "orphan-sig", pushed: 10 * day, subject: "deleted-image"},
				{name: "self-sig", pushed: 10 * day, subject: "self-sig"},
			},
			want: byRule(2, "orphan-sig", "self-sig"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lifecycle.Evaluate(mustParse(t, graphPolicy(tt.withUntagged, tt.withAny)), images(tt.images), now)
			checkResults(t, tt.images, got, tt.want)
		})
	}
}

func TestEvaluateResultFields(t *testing.T) {
	ms := []img{
		{name: "index", tags: []string{"v1", "v1.0"}, pushed: 10 * day, children: []string{"amd64"}},
		{name: "amd64", pushed: 9 * day},
	}
	imgs := images(ms)
	got := lifecycle.Evaluate(mustParse(t, graphPolicy(false, false)), imgs, now)
	want := []lifecycle.Result{
		{Digest: dg("index"), Tags: []string{"v1", "v1.0"}, PushedAt: ago(10 * day), RulePriority: 1, Action: "EXPIRE"},
		{Digest: dg("amd64"), PushedAt: ago(9 * day), RulePriority: 1, Action: "EXPIRE", Via: dg("index")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Evaluate() = %+v\nwant %+v", got, want)
	}
	// Results own their tags.
	got[0].Tags[0] = "changed"
	if imgs[0].Tags[0] != "v1" {
		t.Error("Result.Tags aliases Image.Tags")
	}
}

// TestEvaluateDeterministic: the input order does not change the results,
// even with push-time ties.
func TestEvaluateDeterministic(t *testing.T) {
	p := mustParse(t, pad(`{"rules":[
		{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["r"],"countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}},
		{"rulePriority":2,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}`))
	var ms []img
	for i := range 40 {
		m := img{name: fmt.Sprint("img", i), pushed: time.Duration(i%4) * day}
		if i%3 == 0 {
			m.tags = []string{fmt.Sprint("r", i)}
		}
		if i%10 == 9 {
			m.subject = fmt.Sprint("img", i-1)
		}
		ms = append(ms, m)
	}
	imgs := images(ms)
	want := lifecycle.Evaluate(p, imgs, now)
	if len(want) == 0 {
		t.Fatal("Evaluate() expired nothing")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		rng.Shuffle(len(imgs), func(i, j int) { imgs[i], imgs[j] = imgs[j], imgs[i] })
		if got := lifecycle.Evaluate(p, imgs, now); !reflect.DeepEqual(got, want) {
			t.Fatalf("Evaluate(shuffled) = %v\nwant %v", got, want)
		}
	}
}

// TestEvaluateAgainstReference compares Evaluate with a direct, quadratic
// transcription of ECR's rules on random repositories without indexes or
// referrers.
func TestEvaluateAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	words := []string{"a", "b", "ab", "ba", "prod", "test", "v1", "v2"}
	checked, expired := 0, 0
	for iter := range 300 {
		p := randomPolicy(rng, words)
		if err := p.Validate(); err != nil {
			continue
		}
		checked++
		var imgs []lifecycle.Image
		for i := range 1 + rng.IntN(30) {
			im := lifecycle.Image{
				Digest:   digest.FromString(fmt.Sprint(iter, "/", i)),
				PushedAt: ago(time.Duration(rng.IntN(20*24)) * time.Hour),
			}
			if rng.IntN(3) == 0 {
				im.LastPulledAt = ago(time.Duration(rng.IntN(20*24)) * time.Hour)
			}
			for range rng.IntN(3) {
				im.Tags = append(im.Tags, words[rng.IntN(len(words))]+words[rng.IntN(len(words))])
			}
			imgs = append(imgs, im)
		}
		got := map[digest.Digest]int{}
		for _, r := range lifecycle.Evaluate(p, imgs, now) {
			got[r.Digest] = r.RulePriority
		}
		want := referenceEvaluate(p, imgs)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("policy %+v\nEvaluate() = %v\nreference  = %v", p, got, want)
		}
		expired += len(got)
	}
	if checked < 100 || expired < 500 {
		t.Fatalf("only %d valid policies and %d expired images: the generator is too weak", checked, expired)
	}
	t.Logf("%d policies, %d expired images", checked, expired)
}

func randomPolicy(rng *rand.Rand, words []string) *lifecycle.Policy {
	p := &lifecycle.Policy{}
	n := 1 + rng.IntN(4)
	prios := rng.Perm(10)[:n]
	slices.Sort(prios)
	for i := range n {
		r := lifecycle.Rule{RulePriority: prios[i] + 1, Action: lifecycle.Action{Type: lifecycle.ActionExpire}}
		s := &r.Selection
		switch k := rng.IntN(6); {
		case k == 0 && i == n-1:
			s.TagStatus = lifecycle.TagStatusAny
		case k == 1:
			s.TagStatus = lifecycle.TagStatusUntagged
		default:
			s.TagStatus = lifecycle.TagStatusTagged
			for range 1 + rng.IntN(2) {
				w := words[rng.IntN(len(words))]
				if rng.IntN(2) == 0 {
					s.TagPrefixList = append(s.TagPrefixList, w)
				} else {
					s.TagPatternList = append(s.TagPatternList, []string{w + "*", "*" + w + "*", "*" + w, w}[rng.IntN(4)])
				}
			}
			if len(s.TagPrefixList) > 0 {
				s.TagPatternList = nil
			}
		}
		switch rng.IntN(3) {
		case 0:
			s.CountType = lifecycle.CountImageCountMoreThan
			s.CountNumber = 1 + rng.IntN(5)
		case 1:
			s.CountType, s.CountUnit = lifecycle.CountSinceImagePushed, lifecycle.CountUnitDays
			s.CountNumber = 1 + rng.IntN(15)
		default:
			s.CountType, s.CountUnit = lifecycle.CountSinceImagePulled, lifecycle.CountUnitDays
			s.CountNumber = 1 + rng.IntN(15)
		}
		p.Rules = append(p.Rules, r)
	}
	rng.Shuffle(len(p.Rules), func(i, j int) { p.Rules[i], p.Rules[j] = p.Rules[j], p.Rules[i] })
	return p
}

// referenceEvaluate: for every image, the first rule by priority whose
// tagging requirements it meets decides; a count rule ranks every image it
// selects by push time (then digest).
func referenceEvaluate(p *lifecycle.Policy, imgs []lifecycle.Image) map[digest.Digest]int {
	rules := slices.Clone(p.Rules)
	slices.SortFunc(rules, func(a, b lifecycle.Rule) int { return a.RulePriority - b.RulePriority })
	selects := func(r lifecycle.Rule, tags []string) bool {
		s := r.Selection
		switch s.TagStatus {
		case lifecycle.TagStatusAny:
			return true
		case lifecycle.TagStatusUntagged:
			return len(tags) == 0
		}
		if len(tags) == 0 {
			return false
		}
		for _, pre := range s.TagPrefixList {
			if !slices.ContainsFunc(tags, func(t string) bool { return strings.HasPrefix(t, pre) }) {
				return false
			}
		}
		for _, pat := range s.TagPatternList {
			if !slices.ContainsFunc(tags, func(t string) bool { return globMatch(pat, t) }) {
				return false
			}
		}
		return true
	}
	out := map[digest.Digest]int{}
	for _, im := range imgs {
		for _, r := range rules {
			if !selects(r, im.Tags) {
				continue
			}
			s := r.Selection
			marked := false
			switch s.CountType {
			case lifecycle.CountImageCountMoreThan:
				newer := 0
				for _, o := range imgs {
					if selects(r, o.Tags) && (o.PushedAt.After(im.PushedAt) || o.PushedAt.Equal(im.PushedAt) && o.Digest < im.Digest) {
						newer++
					}
				}
				marked = newer >= s.CountNumber
			case lifecycle.CountSinceImagePushed:
				marked = now.Sub(im.PushedAt) >= time.Duration(s.CountNumber+1)*day
			case lifecycle.CountSinceImagePulled:
				ref := im.PushedAt
				if im.LastPulledAt.After(ref) {
					ref = im.LastPulledAt
				}
				marked = now.Sub(ref) >= time.Duration(s.CountNumber+1)*day
			}
			if marked {
				out[im.Digest] = r.RulePriority
			}
			break
		}
	}
	return out
}

// globMatch is a recursive '*' matcher, independent of the package's.
func globMatch(pat, s string) bool {
	if pat == "" {
		return s == ""
	}
	if pat[0] == '*' {
		for i := 0; i <= len(s); i++ {
			if globMatch(pat[1:], s[i:]) {
				return true
			}
		}
		return false
	}
	return s != "" && s[0] == pat[0] && globMatch(pat[1:], s[1:])
}
