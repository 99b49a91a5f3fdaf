package registry

import (
	"regexp"
	"testing"
)

// FuzzGrammars keeps the hand-written matchers equal to the spec's
// expressions.
func FuzzGrammars(f *testing.F) {
	nameRE := regexp.MustCompile(namePattern)
	tagRE := regexp.MustCompile(tagPattern)
	for _, s := range []string{"ab", "a/b", "a__b", "a___b", "a--b", "a.-b", "a_", "_a", "a/", "A", "a.b/c-d/e__f", "v1.0", "-v", "_v", "x.y-z_Q"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validName(s), nameRE.MatchString(s); got != want {
			t.Fatalf("validName(%q) = %v, regexp says %v", s, got, want)
		}
		if got, want := validTag(s), tagRE.MatchString(s); got != want {
			t.Fatalf("validTag(%q) = %v, regexp says %v", s, got, want)
		}
	})
}
