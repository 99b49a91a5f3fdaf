// Command vulnapp is a small program built by scan/osv's tests against old
// golang.org/x/net and golang.org/x/text versions that have advisories in
// the Go vulnerability database. It is test data, not part of Berth.
package main

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/text/language"
)

func main() {
	doc, err := html.Parse(strings.NewReader("<p>hello</p>"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tag, err := language.Parse("en-US")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(doc.Type, tag)
}
