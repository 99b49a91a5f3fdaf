// Package registrytest starts a complete, ready-to-use Berth registry for
// tests: a registry.Registry on throwaway storage, served by httpapi behind
// an httptest.Server on the loopback interface.
//
// One registry per test is the intended use. With memory storage (the
// default) starting and stopping one costs about 70 µs; WithBadger uses the
// embedded badger backend in a t.TempDir() and costs about 50 ms, most of it
// opening and closing badger (BenchmarkNew). Everything is released by
// t.Cleanup, and nothing is logged unless WithLogger asks for it.
//
//	func TestPush(t *testing.T) {
//		r := registrytest.New(t)
//		ref, _ := name.ParseReference(r.Host() + "/team/app:v1")
//		if err := remote.Write(ref, img); err != nil {
//			t.Fatalf("remote.Write() error = %v", err)
//		}
//		// r.Registry is the *registry.Registry behind the server, for
//		// checks that skip HTTP.
//	}
//
// For a registry shared by all tests of a package, call Start from
// TestMain and Close it when m.Run returns.
//
// The server speaks plain HTTP on 127.0.0.1. Clients that distinguish
// insecure registries (go-containerregistry's name.ParseReference, oras-go's
// PlainHTTP) accept 127.0.0.1 as a local, plain-HTTP host.
package registrytest
