package authn_test

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/authn"
)

const (
	testKeyID  = "BRTHTESTKEY000000001"
	testSecret = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr"
)

var alice = policy.Principal{ID: "u-1", Name: "alice", Groups: []string{"dev"}, Attributes: map[string]string{"team": "web"}}

func newCreds(t *testing.T) *authn.Credentials {
	t.Helper()
	c := authn.NewCredentials()
	if err := c.Add(testKeyID, testSecret, alice); err != nil {
		t.Fatalf("Add() error = %v", err)
	}
	return c
}

func TestCredentialsAuthenticate(t *testing.T) {
	c := newCreds(t)
	p, err := c.Authenticate(testKeyID, testSecret)
	if err != nil {
		t.Fatalf("Authenticate() error = %v", err)
	}
	if p.ID != alice.ID || p.Name != alice.Name || !slices.Equal(p.Groups, alice.Groups) || p.Attributes["team"] != "web" {
		t.Errorf("Authenticate() = %+v, want %+v", p, alice)
	}
	// The principal is a copy.
	p.Groups[0] = "admin"
	p.Attributes["team"] = "ops"
	p2, _ := c.Authenticate(testKeyID, testSecret)
	if p2.Groups[0] != "dev" || p2.Attributes["team"] != "web" {
		t.Errorf("Authenticate() shares the stored principal: %+v", p2)
	}

	var msgs []string
	for _, tc := range []struct{ name, id, secret string }{
		{"wrong secret", testKeyID, testSecret + "x"},
		{"unknown key", "BRTHTESTKEY000000002", testSecret},
		{"empty secret", testKeyID, ""},
		{"empty key", "", testSecret},
		{"prefix of secret", testKeyID, testSecret[:20]},
		{"huge secret", testKeyID, strings.Repeat("x", 4096)},
	} {
		p, err := c.Authenticate(tc.id, tc.secret)
		if p != nil || !errors.Is(err, authn.ErrInvalidCredentials) {
			t.Errorf("%s: Authenticate() = %v, %v, want ErrInvalidCredentials", tc.name, p, err)
			continue
		}
		if strings.Contains(err.Error(), tc.secret) && tc.secret != "" {
			t.Errorf("%s: error %q contains the secret", tc.name, err)
		}
		msgs = append(msgs, strings.Replace(err.Error(), tc.id, "ID", 1))
	}
	// A wrong secret and an unknown key read the same.
	if msgs[0] != msgs[1] {
		t.Errorf("wrong secret says %q, unknown key says %q", msgs[0], msgs[1])
	}

	if !c.Remove(testKeyID) || c.Remove(testKeyID) || c.Len() != 0 {
		t.Errorf("Remove() did not remove exactly once")
	}
	if _, err := c.Authenticate(testKeyID, testSecret); !errors.Is(err, authn.ErrInvalidCredentials) {
		t.Errorf("Authenticate() after Remove error = %v", err)
	}
}

// TestCredentialsSamePath checks that an unknown access key ID takes the
// path of a wrong secret: the same allocations (a short-circuit would skip
// the HMAC and its buffers). BenchmarkCredentialsPaths compares the times;
// a timed unit test would fail on a loaded machine.
func TestCredentialsSamePath(t *testing.T) {
	c := newCreds(t)
	wrong := func() { _, _ = c.Authenticate(testKeyID, testSecret+"!") }
	unknown := func() { _, _ = c.Authenticate("BRTHTESTKEY00000000X", testSecret+"!") }
	if a, b := testing.AllocsPerRun(200, wrong), testing.AllocsPerRun(200, unknown); a != b {
		t.Errorf("allocations: wrong secret %v, unknown key %v", a, b)
	}
}

// BenchmarkCredentialsPaths times a wrong secret and an unknown access key
// ID: the two must cost about the same.
func BenchmarkCredentialsPaths(b *testing.B) {
	c := authn.NewCredentials()
	if err := c.Add(testKeyID, testSecret, alice); err != nil {
		b.Fatal(err)
	}
	b.Run("wrong-secret", func(b *testing.B) {
		for b.Loop() {
			_, _ = c.Authenticate(testKeyID, testSecret+"!")
		}
	})
	b.Run("unknown-key", func(b *testing.B) {
		for b.Loop() {
			_, _ = c.Authenticate("BRTHTESTKEY00000000X", testSecret+"!")
		}
	})
}

func TestCredentialsAddErrors(t *testing.T) {
	c := authn.NewCredentials()
	for _, tc := range []struct {
		name, id, secret string
		p                policy.Principal
	}{
		{"empty id", "", testSecret, alice},
		{"colon", "a:b", testSecret, alice},
		{"control", "a\nb", testSecret, alice},
		{"reserved", authn.TokenUsername, testSecret, alice},
		{"long id", strings.Repeat("a", 129), testSecret, alice},
		{"short secret", testKeyID, "short", alice},
		{"long secret", testKeyID, strings.Repeat("s", 1025), alice},
		{"no principal id", testKeyID, testSecret, policy.Principal{Name: "x"}},
	} {
		if err := c.Add(tc.id, tc.secret, tc.p); err == nil {
			t.Errorf("%s: Add() error = nil", tc.name)
		}
	}
	if c.Len() != 0 {
		t.Errorf("Len() = %d after failed Adds", c.Len())
	}
	for _, h := range []string{"", "sha256:00:00", "hmac-sha256:zz:00", "hmac-sha256:" + strings.Repeat("0", 32) + ":" + strings.Repeat("0", 63)} {
		if err := c.AddHashed(testKeyID, h, alice); err == nil {
			t.Errorf("AddHashed(%q) error = nil", h)
		}
	}
}

func TestHashSecret(t *testing.T) {
	h, err := authn.HashSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^hmac-sha256:[0-9a-f]{32}:[0-9a-f]{64}$`).MatchString(h) {
		t.Errorf("HashSecret() = %q", h)
	}
	if h2, _ := authn.HashSecret(testSecret); h2 == h {
		t.Errorf("HashSecret() is not salted: %q twice", h)
	}
	c := authn.NewCredentials()
	if err := c.AddHashed(testKeyID, h, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Authenticate(testKeyID, testSecret); err != nil {
		t.Errorf("Authenticate() with a hashed secret error = %v", err)
	}
	if _, err := c.Authenticate(testKeyID, h); err == nil {
		t.Errorf("the hash itself authenticates")
	}
	if _, err := authn.HashSecret("short"); err == nil {
		t.Errorf("HashSecret(short) error = nil")
	}
}

func TestGenerateCredential(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id, secret, err := authn.GenerateCredential()
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^BRTH[A-Z2-7]{16}$`).MatchString(id) || !regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`).MatchString(secret) {
			t.Fatalf("GenerateCredential() = %q, %q", id, secret)
		}
		if seen[id] || seen[secret] {
			t.Fatalf("GenerateCredential() repeated itself")
		}
		seen[id], seen[secret] = true, true
		c := authn.NewCredentials()
		if err := c.Add(id, secret, alice); err != nil {
			t.Fatalf("Add(generated) error = %v", err)
		}
	}
}

func TestLoadCredentials(t *testing.T) {
	h, _ := authn.HashSecret(testSecret)
	c, err := authn.LoadCredentials(strings.NewReader(`{"credentials": [
		{"accessKeyId": "BRTHAAAAAAAAAAAAAAAA", "secretHash": "` + h + `",
		 "principal": {"id": "u-1", "name": "ci", "groups": ["ci"], "attributes": {"team": "web"}}},
		{"accessKeyId": "BRTHBBBBBBBBBBBBBBBB", "secret": "` + testSecret + `", "principal": {"id": "u-2"}}
	]}`))
	if err != nil {
		t.Fatalf("LoadCredentials() error = %v", err)
	}
	if p, err := c.Authenticate("BRTHAAAAAAAAAAAAAAAA", testSecret); err != nil || p.Name != "ci" || p.Groups[0] != "ci" || p.Attributes["team"] != "web" {
		t.Errorf("hashed entry: Authenticate() = %+v, %v", p, err)
	}
	if p, err := c.Authenticate("BRTHBBBBBBBBBBBBBBBB", testSecret); err != nil || p.ID != "u-2" {
		t.Errorf("plaintext entry: Authenticate() = %+v, %v", p, err)
	}

	for name, doc := range map[string]string{
		"not json":      `{`,
		"unknown field": `{"credentials": [{"accessKeyId": "A1234", "secret": "` + testSecret + `", "principal": {"id": "x"}, "role": "admin"}]}`,
		"both":          `{"credentials": [{"accessKeyId": "A1234", "secret": "` + testSecret + `", "secretHash": "` + h + `", "principal": {"id": "x"}}]}`,
		"neither":       `{"credentials": [{"accessKeyId": "A1234", "principal": {"id": "x"}}]}`,
		"no principal":  `{"credentials": [{"accessKeyId": "A1234", "secret": "` + testSecret + `"}]}`,
		"no id":         `{"credentials": [{"accessKeyId": "A1234", "secret": "` + testSecret + `", "principal": {"name": "x"}}]}`,
		"duplicate":     `{"credentials": [{"accessKeyId": "A1234", "secret": "` + testSecret + `", "principal": {"id": "x"}}, {"accessKeyId": "A1234", "secret": "` + testSecret + `", "principal": {"id": "y"}}]}`,
		"short secret":  `{"credentials": [{"accessKeyId": "A1234", "secret": "pw", "principal": {"id": "x"}}]}`,
		"bad hash":      `{"credentials": [{"accessKeyId": "A1234", "secretHash": "pw", "principal": {"id": "x"}}]}`,
		"trailing":      `{"credentials": []} {}`,
	} {
		if _, err := authn.LoadCredentials(strings.NewReader(doc)); err == nil {
			t.Errorf("%s: LoadCredentials() error = nil", name)
		}
	}
}
