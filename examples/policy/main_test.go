package main

import (
	"bytes"
	"context"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want := `alice pushes team-a/web:latest           allowed
alice pushes team-a/web:v1.0             denied
rita (release) pushes team-a/web:v1.0    allowed
bob pulls team-a/web:latest              denied
bob pushes team-a/web:latest             denied
ci pulls team-a/web:v1.0                 allowed
ci pushes team-a/web:ci                  denied
anonymous pulls team-a/web:latest        unauthorized
bob lists repositories                   []
ci lists repositories                    [team-a/web]
`
	if got := out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}
