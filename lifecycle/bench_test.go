package lifecycle_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/lifecycle"
)

const benchPolicy = `{"rules": [
  {"rulePriority": 1, "description": "keep the last 50 releases",
   "selection": {"tagStatus": "tagged", "tagPatternList": ["v*.*.*"], "countType": "imageCountMoreThan", "countNumber": 50},
   "action": {"type": "expire"}},
  {"rulePriority": 2, "description": "expire pull-request builds after two weeks",
   "selection": {"tagStatus": "tagged", "tagPrefixList": ["pr-"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14},
   "action": {"type": "expire"}},
  {"rulePriority": 3, "description": "expire untagged images after a week",
   "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7},
   "action": {"type": "expire"}},
  {"rulePriority": 4, "description": "keep at most 1000 images",
   "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1000},
   "action": {"type": "expire"}}]}`

// benchImages is a year of CI pushes: multi-arch indexes with two
// children, signatures, releases, pull-request and main-branch builds,
// untagged leftovers.
func benchImages(n int) []lifecycle.Image {
	imgs := make([]lifecycle.Image, n)
	d := func(i int) digest.Digest { return digest.FromString(fmt.Sprint("bench/", i)) }
	for i := range imgs {
		im := &imgs[i]
		im.Digest = d(i)
		im.PushedAt = now.Add(-time.Duration(n-i) * 365 * day / time.Duration(n))
		im.MediaType = "application/vnd.oci.image.manifest.v1+json"
		sha := fmt.Sprintf("sha-%07x", i)
		switch i % 10 {
		case 0: // index
			im.MediaType = "application/vnd.oci.image.index.v1+json"
			im.Children = []digest.Digest{d(i + 1), d(i + 2)}
			if i%100 == 0 {
				im.Tags = []string{fmt.Sprintf("v1.%d.%d", i/1000, i%1000), sha}
			} else {
				im.Tags = []string{"main-" + sha}
			}
		case 1, 2: // children
		case 3: // signature of the index
			im.Subject = d(i - 3)
		case 4, 5, 6:
			im.Tags = []string{fmt.Sprintf("pr-%d", i/10), "pr-" + sha}
		case 7:
			im.Tags = []string{"main-" + sha}
		}
		if i%7 == 0 {
			im.LastPulledAt = im.PushedAt.Add(day)
		}
	}
	return imgs
}

func BenchmarkEvaluate10k(b *testing.B) {
	p := mustParse(b, benchPolicy)
	imgs := benchImages(10_000)
	res := lifecycle.Evaluate(p, imgs, now)
	b.ReportAllocs()
	b.ReportMetric(float64(len(res)), "expired")
	for b.Loop() {
		lifecycle.Evaluate(p, imgs, now)
	}
}

func BenchmarkParsePolicy(b *testing.B) {
	text := []byte(benchPolicy)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lifecycle.ParsePolicy(text); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEvaluate10kWorkload checks that the benchmark's workload is
// realistic; its speed is measured by BenchmarkEvaluate10k, not here.
func TestEvaluate10kWorkload(t *testing.T) {
	p := mustParse(t, benchPolicy)
	imgs := benchImages(10_000)
	res := lifecycle.Evaluate(p, imgs, now)
	if len(res) < 1000 || len(res) > 9500 {
		t.Errorf("Evaluate(10k images) expired %d images; the workload is not realistic", len(res))
	}
}
