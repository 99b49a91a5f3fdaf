package authn_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/authn"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newService(t testing.TB, clock *fakeClock, opts authn.TokenOptions) *authn.TokenService {
	t.Helper()
	opts.Now = clock.Now
	s, err := authn.NewTokenService(opts)
	if err != nil {
		t.Fatalf("NewTokenService() error = %v", err)
	}
	return s
}

func issue(t testing.TB, s *authn.TokenService, p *policy.Principal) string {
	t.Helper()
	d, err := s.Issue(context.Background(), p)
	if err != nil {
		t.Fatalf("Issue() error = %v", err)
	}
	return d.Password()
}

func TestIssueVerify(t *testing.T) {
	clock := newClock()
	s := newService(t, clock, authn.TokenOptions{ProxyEndpoint: "https://registry.test"})
	d, err := s.Issue(context.Background(), &alice)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(d.AuthorizationToken)
	if err != nil || !strings.HasPrefix(string(raw), "AWS:") {
		t.Fatalf("AuthorizationToken = %q: want base64 of AWS:<password>", d.AuthorizationToken)
	}
	password := string(raw[4:])
	if d.Password() != password {
		t.Errorf("Password() = %q, want %q", d.Password(), password)
	}
	if want := clock.Now().Add(12 * time.Hour); !d.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", d.ExpiresAt, want)
	}
	if d.ProxyEndpoint != "https://registry.test" {
		t.Errorf("ProxyEndpoint = %q", d.ProxyEndpoint)
	}
	if len(password) > authn.MaxTokenSize || strings.ContainsAny(password, ":+/= ") {
		t.Errorf("password %q is not a bounded base64url string", password)
	}
	p, err := s.Verify(password)
	if err != nil {
		t.Fatalf("Verify() error = %v", err)
	}
	if !reflect.DeepEqual(*p, alice) {
		t.Errorf("Verify() = %+v, want %+v", *p, alice)
	}

	if _, err := s.Issue(context.Background(), nil); err == nil {
		t.Errorf("Issue(nil) error = nil")
	}
	if _, err := s.Issue(context.Background(), &policy.Principal{Name: "no id"}); err == nil {
		t.Errorf("Issue(no ID) error = nil")
	}
	big := &policy.Principal{ID: "big", Groups: []string{strings.Repeat("g", authn.MaxTokenSize)}}
	if _, err := s.Issue(context.Background(), big); err == nil {
		t.Errorf("Issue(too large) error = nil")
	}
}

func TestTokenExpiry(t *testing.T) {
	clock := newClock()
	s := newService(t, clock, authn.TokenOptions{Lifetime: time.Hour})
	password := issue(t, s, &alice)
	clock.Advance(time.Hour - time.Second)
	if _, err := s.Verify(password); err != nil {
		t.Fatalf("Verify() a second before expiry error = %v", err)
	}
	clock.Advance(time.Second)
	if _, err := s.Verify(password); !errors.Is(err, authn.ErrTokenExpired) {
		t.Errorf("Verify() at expiry error = %v, want ErrTokenExpired", err)
	}

	// Bearer tokens: the default lifetime, an explicit one, the cap.
	clock = newClock()
	s = newService(t, clock, authn.TokenOptions{Lifetime: time.Hour})
	for _, tc := range []struct{ ttl, want time.Duration }{
		{0, authn.DefaultScopedTokenLifetime},
		{time.Minute, time.Minute},
		{48 * time.Hour, time.Hour},
	} {
		st, err := s.IssueScoped(&alice, nil, tc.ttl)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.ExpiresAt.Sub(st.IssuedAt); got != tc.want {
			t.Errorf("IssueScoped(ttl %v) lifetime = %v, want %v", tc.ttl, got, tc.want)
		}
	}
	st, _ := s.IssueScoped(&alice, nil, time.Minute)
	clock.Advance(time.Minute)
	if _, _, err := s.VerifyScoped(st.Token); !errors.Is(err, authn.ErrTokenExpired) {
		t.Errorf("VerifyScoped() at expiry error = %v, want ErrTokenExpired", err)
	}
}

func TestKeyRotation(t *testing.T) {
	clock := newClock()

	// Graceful: the previous key verifies until the next rotation.
	s := newService(t, clock, authn.TokenOptions{})
	t0 := issue(t, s, &alice)
	if err := s.RotateKey(); err != nil {
		t.Fatal(err)
	}
	t1 := issue(t, s, &alice)
	if _, err := s.Verify(t0); err != nil {
		t.Errorf("graceful: token of the previous key: Verify() error = %v", err)
	}
	if err := s.RotateKey(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(t0); !errors.Is(err, authn.ErrTokenInvalid) {
		t.Errorf("graceful: token of a retired key: Verify() error = %v, want ErrTokenInvalid", err)
	}
	if _, err := s.Verify(t1); err != nil {
		t.Errorf("graceful: token of the previous key: Verify() error = %v", err)
	}
	if n := len(s.Keys()); n != 2 {
		t.Errorf("len(Keys()) = %d, want 2", n)
	}

	// RevokeAll drops every older key.
	if err := s.RevokeAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(t1); !errors.Is(err, authn.ErrTokenInvalid) {
		t.Errorf("after RevokeAll: Verify() error = %v, want ErrTokenInvalid", err)
	}
	if _, err := s.Verify(issue(t, s, &alice)); err != nil {
		t.Errorf("after RevokeAll: new token: Verify() error = %v", err)
	}

	// Immediate: one verification key.
	s = newService(t, clock, authn.TokenOptions{VerificationKeys: 1})
	t0 = issue(t, s, &alice)
	st, _ := s.IssueScoped(&alice, []authn.Scope{{Type: "repository", Name: "a", Actions: []string{"pull"}}}, 0)
	if err := s.RotateKey(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(t0); !errors.Is(err, authn.ErrTokenInvalid) {
		t.Errorf("immediate: Verify() error = %v, want ErrTokenInvalid", err)
	}
	if _, _, err := s.VerifyScoped(st.Token); !errors.Is(err, authn.ErrTokenInvalid) {
		t.Errorf("immediate: VerifyScoped() error = %v, want ErrTokenInvalid", err)
	}
}

func TestSharedKeys(t *testing.T) {
	clock := newClock()
	a := newService(t, clock, authn.TokenOptions{})
	b := newService(t, clock, authn.TokenOptions{Keys: a.Keys()})
	if _, err := b.Verify(issue(t, a, &alice)); err != nil {
		t.Errorf("replica: Verify() error = %v", err)
	}
	// A service with other keys rejects the token.
	c := newService(t, clock, authn.TokenOptions{})
	if _, err := c.Verify(issue(t, a, &alice)); !errors.Is(err, authn.ErrTokenInvalid) {
		t.Errorf("other service: Verify() error = %v, want ErrTokenInvalid", err)
	}
	// Same key ID, other secret: the MAC fails.
	k := a.Keys()[0]
	k.Secret = bytes.Repeat([]byte{1}, 32)
	d := newService(t, clock, authn.TokenOptions{Keys: []authn.SigningKey{k}})
	if _, err := d.Verify(issue(t, a, &alice)); !errors.Is(err, authn.ErrTokenInvalid) {
		t.Errorf("same key ID, other secret: Verify() error = %v, want ErrTokenInvalid", err)
	}
	// Keys returns copies.
	a.Keys()[0].Secret[0] ^= 1
	if _, err := a.Verify(issue(t, a, &alice)); err != nil {
		t.Errorf("Keys() exposes the service's key: %v", err)
	}

	for name, keys := range map[string][]authn.SigningKey{
		"short secret": {{ID: "k", Secret: []byte("short")}},
		"empty id":     {{ID: "", Secret: make([]byte, 32)}},
		"space in id":  {{ID: "a b", Secret: make([]byte, 32)}},
		"duplicate":    {{ID: "k", Secret: make([]byte, 32)}, {ID: "k", Secret: make([]byte, 32)}},
		"too many":     {{ID: "a", Secret: make([]byte, 32)}, {ID: "b", Secret: make([]byte, 32)}, {ID: "c", Secret: make([]byte, 32)}},
	} {
		if _, err := authn.NewTokenService(authn.TokenOptions{Keys: keys}); err == nil {
			t.Errorf("%s: NewTokenService() error = nil", name)
		}
	}
	if _, err := authn.NewTokenService(authn.TokenOptions{Lifetime: -1}); err == nil {
		t.Errorf("negative lifetime: NewTokenService() error = nil")
	}
}

// TestTampering flips every bit of every byte of a token, and cuts and
// extends it: nothing but the original verifies.
func TestTampering(t *testing.T) {
	s := newService(t, newClock(), authn.TokenOptions{})
	for _, tc := range []struct {
		name   string
		token  string
		verify func(string) error
	}{
		{"password", issue(t, s, &alice), func(tok string) error { _, err := s.Verify(tok); return err }},
		{"bearer", mustScoped(t, s), func(tok string) error { _, _, err := s.VerifyScoped(tok); return err }},
	} {
		raw, err := base64.RawURLEncoding.DecodeString(tc.token)
		if err != nil {
			t.Fatal(err)
		}
		for i := range raw {
			for bit := range 8 {
				mod := bytes.Clone(raw)
				mod[i] ^= 1 << bit
				if err := tc.verify(base64.RawURLEncoding.EncodeToString(mod)); !errors.Is(err, authn.ErrTokenInvalid) {
					t.Fatalf("%s: byte %d bit %d flipped: error = %v, want ErrTokenInvalid", tc.name, i, bit, err)
				}
			}
		}
		for _, mod := range []string{
			"", tc.token[:len(tc.token)-1], tc.token + "A", tc.token[1:], "A" + tc.token,
			tc.token[:10] + "\n" + tc.token[10:], tc.token + "=", " " + tc.token,
			strings.Repeat("A", authn.MaxTokenSize+1),
		} {
			if err := tc.verify(mod); !errors.Is(err, authn.ErrTokenInvalid) {
				t.Errorf("%s: %.40q: error = %v, want ErrTokenInvalid", tc.name, mod, err)
			}
		}
		// The last character carries padding bits: another spelling of the
		// same bytes must not verify.
		last := tc.token[len(tc.token)-1]
		for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
			if c == last {
				continue
			}
			if err := tc.verify(tc.token[:len(tc.token)-1] + string(c)); err == nil {
				t.Errorf("%s: last character %q -> %q verifies", tc.name, last, c)
			}
		}
	}
}

func mustScoped(t *testing.T, s *authn.TokenService) string {
	t.Helper()
	st, err := s.IssueScoped(&alice, []authn.Scope{{Type: "repository", Name: "team/app", Actions: []string{"pull", "push"}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return st.Token
}

func TestTokenTypes(t *testing.T) {
	s := newService(t, newClock(), authn.TokenOptions{})
	password := issue(t, s, &alice)
	bearer := mustScoped(t, s)
	if _, _, err := s.VerifyScoped(password); !errors.Is(err, authn.ErrTokenInvalid) {
		t.Errorf("VerifyScoped(password) error = %v, want ErrTokenInvalid", err)
	}
	if _, err := s.Verify(bearer); !errors.Is(err, authn.ErrTokenInvalid) {
		t.Errorf("Verify(bearer) error = %v, want ErrTokenInvalid", err)
	}
	p, scopes, err := s.VerifyScoped(bearer)
	if err != nil {
		t.Fatal(err)
	}
	want := []authn.Scope{{Type: "repository", Name: "team/app", Actions: []string{"pull", "push"}}}
	if p.ID != alice.ID || !reflect.DeepEqual(scopes, want) {
		t.Errorf("VerifyScoped() = %+v, %+v, want %+v", p, scopes, want)
	}
	// No scopes: authenticates, covers nothing.
	st, err := s.IssueScoped(&alice, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p, scopes, err := s.VerifyScoped(st.Token); err != nil || p.ID != alice.ID || len(scopes) != 0 {
		t.Errorf("VerifyScoped(no scopes) = %v, %v, %v", p, scopes, err)
	}
	if _, err := s.IssueScoped(&alice, []authn.Scope{{Type: "repository", Name: "a", Actions: []string{"own"}}}, 0); err == nil {
		t.Errorf("IssueScoped(unknown action) error = nil")
	}
}

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    authn.Scope
		wantErr bool
	}{
		{in: "repository:team/app:pull,push", want: authn.Scope{Type: "repository", Name: "team/app", Actions: []string{"pull", "push"}}},
		{in: "repository:app:pull,pull,own,*", want: authn.Scope{Type: "repository", Name: "app", Actions: []string{"pull", "*"}}},
		{in: "repository:localhost:5000/app:pull", want: authn.Scope{Type: "repository", Name: "localhost:5000/app", Actions: []string{"pull"}}},
		{in: "repository(plugin):app:pull", want: authn.Scope{Type: "repository", Name: "app", Actions: []string{"pull"}}},
		{in: "registry:catalog:*", want: authn.Scope{Type: "registry", Name: "catalog", Actions: []string{"*"}}},
		{in: "repository:app:", want: authn.Scope{Type: "repository", Name: "app"}},
		{in: "repository:app", wantErr: true},
		{in: "repository::pull", wantErr: true},
		{in: "user:app:pull", wantErr: true},
		{in: "", wantErr: true},
	} {
		got, err := authn.ParseScope(tc.in)
		if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseScope(%q) = %+v, %v, want %+v (error %v)", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	sc := authn.Scope{Type: "repository", Name: "a", Actions: []string{"pull"}}
	if !sc.Allows("repository", "a", "pull") || sc.Allows("repository", "a", "push") || sc.Allows("repository", "b", "pull") || sc.Allows("registry", "a", "pull") {
		t.Errorf("Allows() wrong for %v", sc)
	}
	all := authn.Scope{Type: "repository", Name: "*", Actions: []string{"*"}}
	if !all.Allows("repository", "*", "delete") || all.Allows("repository", "a", "pull") {
		t.Errorf("Allows(): the name * must be literal and the action * a wildcard")
	}
	if sc.String() != "repository:a:pull" {
		t.Errorf("String() = %q", sc.String())
	}
}
