package lifecycle_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/lifecycle"
)

// ECR's "Filtering on all images", example B: rule 1 keeps the newest
// alpha image, rule 2 expires untagged images older than a day, rule 3
// keeps one image of any kind but cannot touch the images the first two
// rules select.
func ExampleEvaluate() {
	policy, err := lifecycle.ParsePolicy([]byte(`{"rules": [
	  {"rulePriority": 1, "description": "Rule 1",
	   "selection": {"tagStatus": "tagged", "tagPatternList": ["alpha*"], "countType": "imageCountMoreThan", "countNumber": 1},
	   "action": {"type": "expire"}},
	  {"rulePriority": 2, "description": "Rule 2",
	   "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1},
	   "action": {"type": "expire"}},
	  {"rulePriority": 3, "description": "Rule 3",
	   "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
	   "action": {"type": "expire"}}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	daysAgo := func(d float64) time.Time { return now.Add(-time.Duration(d * float64(24*time.Hour))) }
	repo := []struct {
		name string
		tags []string
		age  float64 // days
	}{
		{"A", []string{"alpha-1", "beta-1"}, 4},
		{"B", nil, 3},
		{"C", []string{"alpha-2"}, 2},
		{"D", []string{"git hash"}, 1},
		{"E", nil, 0.9},
	}
	var images []lifecycle.Image
	names := map[digest.Digest]string{}
	for _, im := range repo {
		d := digest.FromString(im.name)
		names[d] = im.name
		images = append(images, lifecycle.Image{Digest: d, Tags: im.tags, PushedAt: daysAgo(im.age)})
	}
	for _, r := range lifecycle.Evaluate(policy, images, now) {
		fmt.Printf("%s %q pushed %s: %s by rule %d\n", names[r.Digest], r.Tags, r.PushedAt.Format(time.DateOnly), r.Action, r.RulePriority)
	}
	// Output:
	// A ["alpha-1" "beta-1"] pushed 2025-05-28: EXPIRE by rule 1
	// B [] pushed 2025-05-29: EXPIRE by rule 2
	// D ["git hash"] pushed 2025-05-31: EXPIRE by rule 3
}

func ExampleParsePolicy_invalid() {
	_, err := lifecycle.ParsePolicy([]byte(`{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "untagged",
	  "countType": "imageCountMoreThan", "countNumber": 0}, "action": {"type": "expire"}}]}`))
	fmt.Println(errors.Is(err, lifecycle.ErrInvalidPolicy))
	fmt.Println(err)
	var pe *lifecycle.PolicyError
	if errors.As(err, &pe) {
		fmt.Println(pe.ECRMessage())
	}
	// Output:
	// true
	// Lifecycle policy validation failure: numeric instance is lower than the required minimum (minimum: 1, found: 0) (at rules[0].selection.countNumber, rulePriority 1)
	// Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: numeric instance is lower than the required minimum (minimum: 1, found: 0)'
}

func ExamplePreview() {
	policy, _ := lifecycle.ParsePolicy([]byte(`{"rules": [{"rulePriority": 1, "description": "Keep only one untagged image",
	  "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1},
	  "action": {"type": "expire"}}]}`))
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	images := []lifecycle.Image{
		{Digest: digest.FromString("1"), PushedAt: now.Add(-3 * time.Hour)},
		{Digest: digest.FromString("2"), PushedAt: now.Add(-2 * time.Hour)},
		{Digest: digest.FromString("3"), PushedAt: now.Add(-1 * time.Hour)},
		{Digest: digest.FromString("4"), Tags: []string{"latest"}, PushedAt: now.Add(-4 * time.Hour)},
	}
	preview := lifecycle.Preview(policy, images, now)
	fmt.Println("expiring:", preview.Summary.ExpiringImageTotalCount)
	// Output:
	// expiring: 2
}
