// Package testingexample shows how to test code that talks to an OCI
// registry: registrytest.New starts a real Berth registry for one test, on
// loopback, and removes it when the test ends. See example_test.go.
package testingexample
