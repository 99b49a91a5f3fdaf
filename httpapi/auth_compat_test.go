package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	ggcrauthn "github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	orasremote "oras.land/oras-go/v2/registry/remote"
	orasauth "oras.land/oras-go/v2/registry/remote/auth"

	"github.com/berth-dev/berth/httpapi"
	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/rego"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage/memory"
)

// newAuthCompatServer serves an empty registry where alice may do
// anything and mallory nothing, behind Basic authentication or the token
// flow, and returns its host:port.
func newAuthCompatServer(t *testing.T, w *authWorld, tokenFlow bool) (string, *recorder) {
	t.Helper()
	authz, err := rego.New(context.Background(), rego.Options{IdentityPolicies: map[string][]string{
		"arn:aws:iam::000000000000:user/alice": {`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}`},
	}})
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	reg, err := registry.New(store, registry.WithAuthorizer(authz))
	if err != nil {
		t.Fatal(err)
	}
	opts := []httpapi.Option{
		httpapi.WithLogger(slog.New(slog.DiscardHandler)),
		httpapi.WithAuthenticator(httpapi.BasicAuthenticator(w.creds, w.tokens)),
	}
	if tokenFlow {
		opts = append(opts, httpapi.WithTokenEndpoint("/token", w.tokens, "", "berth"))
	}
	h, err := httpapi.New(reg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	mux := http.NewServeMux()
	mux.Handle("/v2/", rec.wrap(h))
	mux.Handle("/token", rec.wrap(h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), rec
}

// clientCreds are the ways a client logs in: static credentials, and an
// ECR-style authorization token with the user name AWS.
func clientCreds(w *authWorld, who string) map[string][2]string {
	return map[string][2]string{
		"static":    w.keys[who],
		"ECR token": {"AWS", password(w.tokens, map[string]policy.Principal{"alice": principalAlice, "mallory": principalMallory}[who])},
	}
}

func TestGGCRLogin(t *testing.T) {
	w := newAuthWorld(t)
	for _, tokenFlow := range []bool{false, true} {
		host, rec := newAuthCompatServer(t, w, tokenFlow)
		for kind, c := range clientCreds(w, "alice") {
			auth := remote.WithAuth(&ggcrauthn.Basic{Username: c[0], Password: c[1]})
			repo := "ggcr/" + strings.ReplaceAll(strings.ToLower(kind), " ", "-")
			ref := mustRef(t, host+"/"+repo+":v1")
			img, err := random.Image(1024, 2)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(ref, img, auth); err != nil {
				t.Fatalf("token flow %v, %s: remote.Write() error = %v", tokenFlow, kind, err)
			}
			pulled, err := remote.Image(ref, auth)
			if err != nil {
				t.Fatalf("token flow %v, %s: remote.Image() error = %v", tokenFlow, kind, err)
			}
			if err := validate.Image(pulled); err != nil {
				t.Errorf("validate.Image() error = %v", err)
			}
			wantDigest(t, img, pulled)
			// A copy mounts the layers: with the token flow, ggcr asks
			// for pull on the source as well.
			copyRef := mustRef(t, host+"/"+repo+"-copy:v1")
			if err := remote.Write(copyRef, pulled, auth); err != nil {
				t.Fatalf("token flow %v, %s: remote.Write(copy) error = %v", tokenFlow, kind, err)
			}
			if n := rec.count("POST /v2/"+repo+"-copy/blobs/uploads/?", "mount=", "Created"); n < 2 {
				t.Errorf("token flow %v, %s: %d mounts, want at least 2; requests:\n%s", tokenFlow, kind, n, strings.Join(rec.seen, "\n"))
			}
			if tags, err := remote.List(ref.Context(), auth); err != nil || len(tags) != 1 {
				t.Errorf("remote.List() = %v, %v", tags, err)
			}
		}
		if n := rec.count("GET /token?", "OK"); (n > 0) != tokenFlow {
			t.Errorf("token flow %v: %d token requests", tokenFlow, n)
		}
		if tokenFlow && rec.count("GET /token?", "scope=repository%3Aggcr%2Fstatic%3Apush%2Cpull") == 0 {
			t.Errorf("ggcr never asked for a push token:\n%s", strings.Join(rec.seen, "\n"))
		}

		// A wrong password and a denied principal.
		bad := remote.WithAuth(&ggcrauthn.Basic{Username: w.keys["alice"][0], Password: "wrong-wrong-wrong-wrong"})
		img, _ := random.Image(256, 1)
		err := remote.Write(mustRef(t, host+"/ggcr/bad:v1"), img, bad)
		if terr := (*transport.Error)(nil); !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
			t.Errorf("token flow %v: push with a wrong password: %v, want 401", tokenFlow, err)
		}
		mallory := remote.WithAuth(&ggcrauthn.Basic{Username: w.keys["mallory"][0], Password: w.keys["mallory"][1]})
		err = remote.Write(mustRef(t, host+"/ggcr/mallory:v1"), img, mallory)
		if terr := (*transport.Error)(nil); !errors.As(err, &terr) || terr.StatusCode != http.StatusForbidden {
			t.Errorf("token flow %v: push by a denied principal: %v, want 403", tokenFlow, err)
		}
		if _, err := remote.Image(mustRef(t, host+"/ggcr/static:v1"), mallory); err == nil {
			t.Errorf("token flow %v: a denied principal pulled", tokenFlow)
		}
	}
}

func TestORASLogin(t *testing.T) {
	ctx := context.Background()
	w := newAuthWorld(t)
	for _, tokenFlow := range []bool{false, true} {
		host, rec := newAuthCompatServer(t, w, tokenFlow)
		newRepo := func(name, user, pass string) *orasremote.Repository {
			t.Helper()
			repo, err := orasremote.NewRepository(host + "/" + name)
			if err != nil {
				t.Fatal(err)
			}
			repo.PlainHTTP = true
			repo.Client = &orasauth.Client{
				Cache:      orasauth.NewCache(),
				Credential: orasauth.StaticCredential(host, orasauth.Credential{Username: user, Password: pass}),
			}
			return repo
		}
		for kind, c := range clientCreds(w, "alice") {
			name := "oras/" + strings.ReplaceAll(strings.ToLower(kind), " ", "-")
			repo := newRepo(name, c[0], c[1])
			layerBytes := bytes.Repeat([]byte(kind), 1000)
			layer := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, layerBytes)
			if err := repo.Push(ctx, layer, bytes.NewReader(layerBytes)); err != nil {
				t.Fatalf("token flow %v, %s: Push(layer) error = %v", tokenFlow, kind, err)
			}
			manifest, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.example.thing", oras.PackManifestOptions{
				Layers: []ocispec.Descriptor{layer},
			})
			if err != nil {
				t.Fatalf("token flow %v, %s: PackManifest() error = %v", tokenFlow, kind, err)
			}
			if err := repo.Tag(ctx, manifest, "v1"); err != nil {
				t.Fatalf("Tag() error = %v", err)
			}

			// Pull with a fresh client.
			repo = newRepo(name, c[0], c[1])
			desc, rc, err := repo.FetchReference(ctx, "v1")
			if err != nil {
				t.Fatalf("token flow %v, %s: FetchReference() error = %v", tokenFlow, kind, err)
			}
			rc.Close()
			if desc.Digest != manifest.Digest {
				t.Errorf("FetchReference() = %s, want %s", desc.Digest, manifest.Digest)
			}
			got, err := content.FetchAll(ctx, repo.Blobs(), layer)
			if err != nil || !bytes.Equal(got, layerBytes) {
				t.Errorf("token flow %v, %s: FetchAll(layer) = %d bytes, %v", tokenFlow, kind, len(got), err)
			}
		}
		if n := rec.count("GET /token?", "OK"); (n > 0) != tokenFlow {
			t.Errorf("token flow %v: %d token requests", tokenFlow, n)
		}

		repo := newRepo("oras/static", w.keys["alice"][0], "wrong-wrong-wrong-wrong")
		if _, err := repo.Resolve(ctx, "v1"); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("token flow %v: Resolve with a wrong password: %v, want 401", tokenFlow, err)
		}
		repo = newRepo("oras/static", w.keys["mallory"][0], w.keys["mallory"][1])
		if _, err := repo.Resolve(ctx, "v1"); err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("token flow %v: Resolve by a denied principal: %v, want 403", tokenFlow, err)
		}
	}
}
