package authn_test

import (
	"bytes"
	"encoding/base64"
	"testing"
	"time"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/authn"
)

// FuzzVerify feeds arbitrary strings to Verify and VerifyScoped, and
// mutations of real tokens to both: they never panic, and nothing verifies
// but the tokens the service issued.
func FuzzVerify(f *testing.F) {
	clock := newClock()
	s, err := authn.NewTokenService(authn.TokenOptions{Now: clock.Now, Keys: []authn.SigningKey{{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)}}})
	if err != nil {
		f.Fatal(err)
	}
	p := &policy.Principal{ID: "u-1", Name: "alice", Groups: []string{"dev"}, Attributes: map[string]string{"k": "v"}}
	password := issue(f, s, p)
	st, err := s.IssueScoped(p, []authn.Scope{{Type: "repository", Name: "a/b", Actions: []string{"pull"}}}, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	issued := map[string]bool{password: true, st.Token: true}

	for _, seed := range []string{password, st.Token, "", "AQEC", "AQECazE", "!!", password[:len(password)-2]} {
		f.Add(seed, uint16(0), byte(0))
	}
	raw, _ := base64.RawURLEncoding.DecodeString(password)
	// A header with a huge key ID length.
	f.Add(base64.RawURLEncoding.EncodeToString([]byte{1, 1, 255, 'k'}), uint16(0), byte(0))
	f.Add(base64.RawURLEncoding.EncodeToString(raw[:40]), uint16(3), byte(1))
	f.Fuzz(func(t *testing.T, tok string, pos uint16, flip byte) {
		if len(tok) > 0 && flip != 0 {
			b := []byte(tok)
			b[int(pos)%len(b)] ^= flip
			tok = string(b)
		}
		if p, err := s.Verify(tok); err == nil {
			if !issued[tok] || p.ID != "u-1" {
				t.Fatalf("Verify(%q) = %+v: a token the service never issued verifies", tok, p)
			}
		} else if p != nil {
			t.Fatalf("Verify() returned a principal with error %v", err)
		}
		if p, scopes, err := s.VerifyScoped(tok); err == nil {
			if tok != st.Token || p.ID != "u-1" || len(scopes) != 1 {
				t.Fatalf("VerifyScoped(%q) = %+v, %v: a token the service never issued verifies", tok, p, scopes)
			}
		}
		_, _ = authn.ParseScope(tok)
	})
}
