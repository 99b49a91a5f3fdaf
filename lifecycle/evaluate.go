package lifecycle

import (
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// Image is what the evaluator knows about one manifest in a repository.
type Image struct {
	// Digest identifies the manifest. Digests should be unique in one
	// evaluation; later duplicates are ignored.
	Digest digest.Digest
	// Tags currently pointing at the manifest; empty for an untagged image.
	Tags []string
	// PushedAt orders images for imageCountMoreThan and ages them for
	// sinceImagePushed. ECR keeps the first push time when an image is
	// re-tagged; so should the caller. The zero time is the oldest.
	PushedAt time.Time
	// LastPulledAt is the last recorded pull, or the zero time if the image
	// was never pulled (sinceImagePulled then uses PushedAt).
	LastPulledAt time.Time
	// MediaType of the manifest. Informational: the evaluator relies on
	// Subject and Children, not on media types.
	MediaType string
	// Subject is the manifest's OCI 1.1 subject: set for referrers such as
	// signatures, SBOMs and attestations.
	Subject digest.Digest
	// Children are the manifests an image index references.
	Children []digest.Digest
}

// ImageActionType is the action in a Result, in ECR's upper-case API
// spelling.
type ImageActionType string

// ImageActionExpire: the image is to be deleted.
const ImageActionExpire ImageActionType = "EXPIRE"

// Result is one image the policy acts on.
type Result struct {
	Digest   digest.Digest
	Tags     []string
	PushedAt time.Time
	// RulePriority is the priority of the rule that expires the image, or,
	// for an image that goes with an index or subject (Via), the rule that
	// expires that index or subject.
	RulePriority int
	Action       ImageActionType
	// Via is the image index or subject whose expiry carries this image
	// with it; empty when the rule expires the image itself.
	Via digest.Digest
}

// Summary counts a preview's results, as ECR's
// LifecyclePolicyPreviewSummary does.
type Summary struct {
	ExpiringImageTotalCount int
}

// PreviewResult is the outcome of Preview.
type PreviewResult struct {
	Results []Result
	Summary Summary
}

// Preview evaluates the policy without acting on anything: Evaluate's
// results and their count. It is the basis of StartLifecyclePolicyPreview
// and GetLifecyclePolicyPreview.
func Preview(p *Policy, images []Image, now time.Time) PreviewResult {
	res := Evaluate(p, images, now)
	return PreviewResult{Results: res, Summary: Summary{ExpiringImageTotalCount: len(res)}}
}

// node is the evaluator's state for one image.
type node struct {
	owner    int   // index of the first rule (by priority) selecting the image, -1 if none
	subject  int32 // index of the subject image, -1 if absent
	pending  int32 // parent indexes not (yet) expired
	via      int32 // index or subject the image expires with, -1 if none
	priority int   // priority of the rule the image expires by
	dup      bool  // a later duplicate of a digest: ignored
	marked   bool  // the owner rule marks the image
	parents  bool  // referenced by at least one index in the set
	expired  bool
}

// Evaluate applies the policy to a repository's images as of now and
// returns the images to expire, oldest push first (ties by digest). It is
// pure: it reads its arguments and changes nothing. It returns nil when p is
// nil or fails Validate.
//
// Rules are evaluated independently on all images, then applied in priority
// order: an image is acted on only by the first rule, by priority, whose
// tagging requirements select it, and only if that rule marks it. Rules
// still count images that higher-priority rules select. See the package
// documentation for the details, index children and referrers.
//
// Evaluate runs in O(n log n) for n images (times the number of rules and
// tags per image).
func Evaluate(p *Policy, images []Image, now time.Time) []Result {
	if p == nil || len(images) == 0 || p.Validate() != nil {
		return nil
	}
	rules := compile(p)
	n := len(images)
	nodes := make([]node, n)
	index := make(map[digest.Digest]int32, n)
	for i := range images {
		if _, dup := index[images[i].Digest]; dup {
			nodes[i].dup = true
			continue
		}
		index[images[i].Digest] = int32(i)
	}
	lookup := func(d digest.Digest, self int) int32 {
		if d == "" {
			return -1
		}
		if j, ok := index[d]; ok && int(j) != self {
			return j
		}
		return -1
	}

	var countRules uint64
	for r := range rules {
		if rules[r].countType == CountImageCountMoreThan {
			countRules |= 1 << r
		}
	}
	masks := make([]uint64, n) // the rules selecting each image
	for i := range images {
		nd := &nodes[i]
		nd.owner, nd.subject, nd.via = -1, -1, -1
		if nd.dup {
			continue
		}
		if nd.subject = lookup(images[i].Subject, i); nd.subject >= 0 {
			continue // a referrer of an image in the set goes with its subject
		}
		var mask uint64
		for r := range rules {
			if nd.owner >= 0 && countRules>>r == 0 {
				break // only count rules need the lower-priority matches
			}
			if rules[r].selects(images[i].Tags) {
				if nd.owner < 0 {
					nd.owner = r
				}
				mask |= 1 << r
			}
		}
		masks[i] = mask
		if nd.owner >= 0 && rules[nd.owner].countType != CountImageCountMoreThan {
			nd.marked = rules[nd.owner].marksByAge(&images[i], now)
		}
	}

	// imageCountMoreThan: every count rule ranks the images it selects,
	// newest push first, including those a higher-priority rule selects,
	// and marks those beyond countNumber.
	if countRules != 0 {
		order := make([]int32, 0, n)
		for i := range images {
			if masks[i]&countRules != 0 {
				order = append(order, int32(i))
			}
		}
		slices.SortFunc(order, func(a, b int32) int {
			if c := images[b].PushedAt.Compare(images[a].PushedAt); c != 0 {
				return c
			}
			return strings.Compare(string(images[a].Digest), string(images[b].Digest))
		})
		var seen [MaxRules]int64
		for _, i := range order {
			nd := &nodes[i]
			for m := masks[i] & countRules; m != 0; m &= m - 1 {
				r := bits.TrailingZeros64(m)
				seen[r]++
				if r == nd.owner && seen[r] > rules[r].number {
					nd.marked = true
				}
			}
		}
	}

	// The reference graph: index -> distinct child, subject -> referrer.
	stamp := make([]int32, n) // stamp[j] == i+1: edge i -> j already seen
	children := func(i int, f func(j int32)) {
		for _, c := range images[i].Children {
			if j := lookup(c, i); j >= 0 && stamp[j] != int32(i)+1 {
				stamp[j] = int32(i) + 1
				f(j)
			}
		}
	}
	childStart := make([]int32, n+1)
	for i := range images {
		if !nodes[i].dup {
			children(i, func(j int32) {
				childStart[i+1]++
				nodes[j].pending++
				nodes[j].parents = true
			})
		}
	}
	for i := 1; i <= n; i++ {
		childStart[i] += childStart[i-1]
	}
	childList := make([]int32, childStart[n])
	clear(stamp)
	for i := range images {
		if !nodes[i].dup {
			pos := childStart[i]
			children(i, func(j int32) {
				childList[pos] = j
				pos++
			})
		}
	}
	refStart := make([]int32, n+1)
	for i := range nodes {
		if s := nodes[i].subject; s >= 0 {
			refStart[s+1]++
		}
	}
	for i := 1; i <= n; i++ {
		refStart[i] += refStart[i-1]
	}
	refList := make([]int32, refStart[n])
	fill := slices.Clone(refStart[:n])
	for i := range nodes {
		if s := nodes[i].subject; s >= 0 {
			refList[fill[s]] = int32(i)
			fill[s]++
		}
	}

	// Least fixpoint: an image expires when no index that is kept references
	// it and (it is marked by its owner rule, or it is an untagged child whose
	// indexes all expire, or it is a referrer whose subject expires).
	queue := make([]int32, 0, 64)
	expire := func(i int32, priority int, via int32) {
		nodes[i].expired, nodes[i].priority, nodes[i].via = true, priority, via
		queue = append(queue, i)
	}
	try := func(i int32) {
		nd := &nodes[i]
		if nd.dup || nd.expired || nd.pending > 0 {
			return
		}
		switch {
		case nd.subject >= 0:
			if s := &nodes[nd.subject]; s.expired {
				expire(i, s.priority, nd.subject)
			}
		case nd.marked:
			expire(i, rules[nd.owner].priority, -1)
		case nd.parents && len(images[i].Tags) == 0:
			expire(i, nodes[nd.via].priority, nd.via)
		}
	}
	for i := range nodes {
		try(int32(i))
	}
	for len(queue) > 0 {
		x := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, c := range childList[childStart[x]:childStart[x+1]] {
			nd := &nodes[c]
			nd.pending--
			// Of the indexes an untagged child goes with, name the one
			// expired by the highest-priority rule (then the lowest digest).
			if v := nd.via; v < 0 || nodes[x].priority < nodes[v].priority ||
				nodes[x].priority == nodes[v].priority && images[x].Digest < images[v].Digest {
				nd.via = x
			}
			if nd.pending == 0 {
				try(c)
			}
		}
		for _, r := range refList[refStart[x]:refStart[x+1]] {
			try(r)
		}
	}

	count, ntags := 0, 0
	for i := range nodes {
		if nodes[i].expired {
			count++
			ntags += len(images[i].Tags)
		}
	}
	if count == 0 {
		return nil
	}
	out := make([]Result, 0, count)
	tags := make([]string, 0, ntags)
	for i := range nodes {
		nd := &nodes[i]
		if !nd.expired {
			continue
		}
		r := Result{
			Digest:       images[i].Digest,
			PushedAt:     images[i].PushedAt,
			RulePriority: nd.priority,
			Action:       ImageActionExpire,
		}
		if len(images[i].Tags) > 0 {
			start := len(tags)
			tags = append(tags, images[i].Tags...)
			r.Tags = tags[start:len(tags):len(tags)]
		}
		if nd.via >= 0 {
			r.Via = images[nd.via].Digest
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Result) int {
		if c := a.PushedAt.Compare(b.PushedAt); c != 0 {
			return c
		}
		return strings.Compare(string(a.Digest), string(b.Digest))
	})
	return out
}
