package lifecycle_test

import (
	"errors"
	"testing"
	"time"

	"github.com/berth-dev/berth/lifecycle"
)

// The examples of ECR's "Examples of lifecycle policies" page
// (lifecycle_policy_examples.html), current edition (tagPatternList) and
// the 2023 edition (tagPrefixList). Where the page gives a repository, the
// images and the expected outcome are the page's; where it only gives a
// policy, the repository is ours and exercises the policy's boundaries.
// Policy texts are the page's, verbatim apart from whitespace.

const (
	// "Filtering on image age", 2023 edition.
	policyAgeUntagged = `{
    "rules": [
        {
            "rulePriority": 1,
            "description": "Expire images older than 14 days",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 14
            },
            "action": {
                "type": "expire"
            }
        }
    ]
}`
	// "Filtering on image age", current edition.
	policyAgeProdPattern = `{
    "rules": [
        {
            "rulePriority": 1,
            "description": "Expire images older than 14 days",
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["prod*"],
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 14
            },
            "action": {
                "type": "expire"
            }
        }
    ]
}`
	// "Filtering on image count".
	policyCountUntagged = `{
    "rules": [
        {
            "rulePriority": 1,
            "description": "Keep only one untagged image, expire all others",
            "selection": {
                "tagStatus": "untagged",
                "countType": "imageCountMoreThan",
                "countNumber": 1
            },
            "action": {
                "type": "expire"
            }
        }
    ]
}`
)

// twoRules is "Filtering on multiple rules": kind is "tagPrefixList" (2023
// edition, values prod/beta) or "tagPatternList" (current, prod*/beta*).
func twoRules(kind, first, second string) string {
	return `{
    "rules": [
        {
            "rulePriority": 1,
            "description": "Rule 1",
            "selection": {
                "tagStatus": "tagged",
                "` + kind + `": ["` + first + `"],
                "countType": "imageCountMoreThan",
                "countNumber": 1
            },
            "action": {
                "type": "expire"
            }
        },
        {
            "rulePriority": 2,
            "description": "Rule 2",
            "selection": {
                "tagStatus": "tagged",
                "` + kind + `": ["` + second + `"],
                "countType": "imageCountMoreThan",
                "countNumber": 1
            },
            "action": {
                "type": "expire"
            }
        }
    ]
}`
}

// multiTag is "Filtering on multiple tags in a single rule".
func multiTag(list, countType, extra string, number string) string {
	return `{
    "rules": [
        {
            "rulePriority": 1,
            "description": "Rule 1",
            "selection": {
                "tagStatus": "tagged",
                ` + list + `,
                "countType": "` + countType + `",
                "countNumber": ` + number + extra + `
            },
            "action": {
                "type": "expire"
            }
        }
    ]
}`
}

const policyAllImagesA = `{
    "rules": [
        {
            "rulePriority": 1,
            "description": "Rule 1",
            "selection": {
                "tagStatus": "any",
                "countType": "imageCountMoreThan",
                "countNumber": 1
            },
            "action": {
                "type": "expire"
            }
        }
    ]
}`

// allImagesB is "Filtering on all images", example B; alpha is
// `"tagPrefixList": ["alpha"]` or `"tagPatternList": ["alpha*"]`.
func allImagesB(alpha string) string {
	return `{
    "rules": [
        {
            "rulePriority": 1,
            "description": "Rule 1",
            "selection": {
                "tagStatus": "tagged",
                ` + alpha + `,
                "countType": "imageCountMoreThan",
                "countNumber": 1
            },
            "action": {
                "type": "expire"
            }
        },
        {
            "rulePriority": 2,
            "description": "Rule 2",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 1
            },
            "action": {
                "type": "expire"
            }
        },
        {
            "rulePriority": 3,
            "description": "Rule 3",
            "selection": {
                "tagStatus": "any",
                "countType": "imageCountMoreThan",
                "countNumber": 1
            },
            "action": {
                "type": "expire"
            }
        }
    ]
}`
}

// The repository of "Filtering on multiple rules", examples A and B.
var betaProdRepo = []img{
	{name: "A", tags: []string{"beta-1", "prod-1"}, pushed: 10 * day},
	{name: "B", tags: []string{"beta-2", "prod-2"}, pushed: 9 * day},
	{name: "C", tags: []string{"beta-3"}, pushed: 8 * day},
}

// The repository of "Filtering on multiple tags in a single rule", A.
var alphaBetaRepoA = []img{
	{name: "A", tags: []string{"alpha-1"}, pushed: 12 * day},
	{name: "B", tags: []string{"beta-1"}, pushed: 11 * day},
	{name: "C", tags: []string{"alpha-2", "beta-2"}, pushed: 10 * day},
	{name: "D", tags: []string{"alpha-3"}, pushed: 4 * day},
	{name: "E", tags: []string{"beta-3"}, pushed: 3 * day},
	{name: "F", tags: []string{"alpha-4", "beta-4"}, pushed: 2 * day},
}

// The repository of "Filtering on multiple tags in a single rule", B.
var alphaBetaRepoB = []img{
	{name: "A", tags: []string{"alpha-1", "beta-1", "gamma-1"}, pushed: 10 * day},
	{name: "B", tags: []string{"alpha-2", "beta-2"}, pushed: 9 * day},
	{name: "C", tags: []string{"alpha-3", "beta-3", "gamma-2"}, pushed: 8 * day},
}

// The repository of "Filtering on all images", A.
var allImagesRepoA = []img{
	{name: "A", tags: []string{"alpha-1"}, pushed: 4 * day},
	{name: "B", tags: []string{"beta-1"}, pushed: 3 * day},
	{name: "C", pushed: 2 * day},
	{name: "D", tags: []string{"alpha-2"}, pushed: 1 * day},
}

// The repository of "Filtering on all images", B. The page pushes D and E
// both "1 day ago" and keeps E as the newest image under Rule 3, so E is
// pushed after D here (by a minute: listing order). Both are less than two
// whole days old, so Rule 2 ("older than one day") does not mark E.
var allImagesRepoB = []img{
	{name: "A", tags: []string{"alpha-1", "beta-1"}, pushed: 4 * day},
	{name: "B", pushed: 3 * day},
	{name: "C", tags: []string{"alpha-2"}, pushed: 2 * day},
	{name: "D", tags: []string{"git hash"}, pushed: 1 * day},
	{name: "E", pushed: 1*day - time.Minute},
}

func TestECRExamples(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		images []img
		want   map[string]expiry
	}{
		{
			// "expires untagged images older than 14 days".
			name:   "image age/untagged older than 14 days",
			policy: policyAgeUntagged,
			images: []img{
				{name: "old", pushed: 30 * day},
				{name: "15 days", pushed: 15 * day},
				{name: "14 days 23h", pushed: 15*day - time.Hour},
				{name: "14 days", pushed: 14 * day},
				{name: "new", pushed: 1 * day},
				{name: "old tagged", tags: []string{"v1"}, pushed: 100 * day},
			},
			want: byRule(1, "old", "15 days"),
		},
		{
			// "expires images with a tag starting with prod by using a
			// tagPatternList of prod* that are also older than 14 days".
			name:   "image age/prod* older than 14 days",
			policy: policyAgeProdPattern,
			images: []img{
				{name: "prod old", tags: []string{"prod-1"}, pushed: 20 * day},
				{name: "prod exact", tags: []string{"prod"}, pushed: 20 * day},
				{name: "prod and other", tags: []string{"latest", "production"}, pushed: 20 * day},
				{name: "prod new", tags: []string{"prod-2"}, pushed: 3 * day},
				{name: "preprod old", tags: []string{"preprod-1"}, pushed: 20 * day},
				{name: "test old", tags: []string{"test-1"}, pushed: 30 * day},
				{name: "untagged old", pushed: 30 * day},
			},
			want: byRule(1, "prod old", "prod exact", "prod and other"),
		},
		{
			// "keeps only one untagged image and expires all others".
			name:   "image count/keep one untagged",
			policy: policyCountUntagged,
			images: []img{
				{name: "u1", pushed: 1 * day},
				{name: "u2", pushed: 2 * day},
				{name: "u3", pushed: 3 * day},
				{name: "tagged old", tags: []string{"v1"}, pushed: 10 * day},
				{name: "tagged new", tags: []string{"v2"}, pushed: 0},
			},
			want: byRule(1, "u2", "u3"),
		},
		{
			// Rule 1 marks A; Rule 2 marks A and B, but both were seen by
			// Rule 1. Result: A is expired.
			name:   "multiple rules/A/tagPrefixList",
			policy: twoRules("tagPrefixList", "prod", "beta"),
			images: betaProdRepo,
			want:   byRule(1, "A"),
		},
		{
			name:   "multiple rules/A/tagPatternList",
			policy: twoRules("tagPatternList", "prod*", "beta*"),
			images: betaProdRepo,
			want:   byRule(1, "A"),
		},
		{
			// Rule 1 sees all three images and marks A and B; Rule 2 marks
			// nothing more. Result: A and B are expired.
			name:   "multiple rules/B/tagPrefixList",
			policy: twoRules("tagPrefixList", "beta", "prod"),
			images: betaProdRepo,
			want:   byRule(1, "A", "B"),
		},
		{
			name:   "multiple rules/B/tagPatternList",
			policy: twoRules("tagPatternList", "beta*", "prod*"),
			images: betaProdRepo,
			want:   byRule(1, "A", "B"),
		},
		{
			// Images must match all listed prefixes: C and F; C is older
			// than five days. Result: C is expired.
			name:   "multiple tags/A/tagPrefixList",
			policy: multiTag(`"tagPrefixList": ["alpha", "beta"]`, "sinceImagePushed", `, "countUnit": "days"`, "5"),
			images: alphaBetaRepoA,
			want:   byRule(1, "C"),
		},
		{
			name:   "multiple tags/A/tagPatternList",
			policy: multiTag(`"tagPatternList": ["alpha*", "beta*"]`, "sinceImagePushed", `, "countUnit": "days"`, "5"),
			images: alphaBetaRepoA,
			want:   byRule(1, "C"),
		},
		{
			// Tags are not exclusive: the rule sees all three images, keeps
			// C and marks A and B.
			name:   "multiple tags/B/tagPrefixList",
			policy: multiTag(`"tagPrefixList": ["alpha", "beta"]`, "imageCountMoreThan", "", "1"),
			images: alphaBetaRepoB,
			want:   byRule(1, "A", "B"),
		},
		{
			name:   "multiple tags/B/tagPatternList",
			policy: multiTag(`"tagPatternList": ["alpha*", "beta*"]`, "imageCountMoreThan", "", "1"),
			images: alphaBetaRepoB,
			want:   byRule(1, "A", "B"),
		},
		{
			// Rule 1 sees A, B, C and D and expires all but the newest.
			name:   "all images/A",
			policy: policyAllImagesA,
			images: allImagesRepoA,
			want:   byRule(1, "A", "B", "C"),
		},
		{
			// Rule 1 marks A; Rule 2 marks B; Rule 3 sees A..E, keeps the
			// newest (E) and can only mark D, as A, B, C and E were
			// identified by higher-priority rules. Result: A, B and D.
			name:   "all images/B/tagPrefixList",
			policy: allImagesB(`"tagPrefixList": ["alpha"]`),
			images: allImagesRepoB,
			want:   merge(byRule(1, "A"), byRule(2, "B"), byRule(3, "D")),
		},
		{
			name:   "all images/B/tagPatternList",
			policy: allImagesB(`"tagPatternList": ["alpha*"]`),
			images: allImagesRepoB,
			want:   merge(byRule(1, "A"), byRule(2, "B"), byRule(3, "D")),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.policy)
			got := lifecycle.Evaluate(p, images(tt.images), now)
			checkResults(t, tt.images, got, tt.want)

			// Preview is the same evaluation, with a count.
			pr := lifecycle.Preview(p, images(tt.images), now)
			if pr.Summary.ExpiringImageTotalCount != len(tt.want) || len(pr.Results) != len(tt.want) {
				t.Errorf("Preview() = %d results, summary %d; want %d",
					len(pr.Results), pr.Summary.ExpiringImageTotalCount, len(tt.want))
			}
		})
	}
}

// TestECRExampleArchiveRejected: the current examples page also shows
// archive rules (transition, sinceImageTransitioned). Berth has no archive
// storage class and says so.
func TestECRExampleArchiveRejected(t *testing.T) {
	for _, text := range []string{
		`{"rules":[{"rulePriority":1,"description":"Archive images not pulled in 90 days","selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":90},"action":{"type":"transition","targetStorageClass":"archive"}}]}`,
		`{"rules":[{"rulePriority":1,"description":"Delete images archived for over 365 days","selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":365},"action":{"type":"expire"}}]}`,
	} {
		_, err := lifecycle.ParsePolicy([]byte(text))
		if !errors.Is(err, lifecycle.ErrUnsupported) || !errors.Is(err, lifecycle.ErrInvalidPolicy) {
			t.Errorf("ParsePolicy(%s) error = %v, want ErrUnsupported and ErrInvalidPolicy", text, err)
		}
	}
}
