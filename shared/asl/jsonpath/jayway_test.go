package jsonpath_test

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/asl/jsonpath"
)

// Step Functions evaluates paths with Jayway JsonPath of the 2.0 era (see the package
// documentation). testdata/jayway/jayway-2.0.0.tsv records what Jayway 2.0.0 returns for
// every path in paths.txt; TestJayway holds this package to it, except for the divergences
// listed with their reasons. To record again (Debian's libjsonpath-java is Jayway 2.0.0):
//
//	apt-get install default-jdk-headless libjsonpath-java
//	cd shared/asl/jsonpath/testdata/jayway
//	CP=/usr/share/java/json-path.jar:/usr/share/java/json-smart.jar:/usr/share/java/accessors-smart.jar:/usr/share/java/asm.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar
//	d=$(mktemp -d) && javac -d $d -cp $CP Record.java && java -cp $CP:$d Record doc.json paths.txt > jayway-2.0.0.tsv
var jaywayDivergences = map[string]string{
	// Go maps have no member order: results that list members of several objects come
	// out in sorted key order rather than in document order.
	"$.store..price": "member order",
	"$..*":           "member order",
	"$..price":       "member order",
	"$.store.*":      "member order",
	"$..[0]":         "member order",

	// Step Functions documents that @ never matches a scalar in a filter.
	"$.bar[?(@ == 'b')]":     "filters test only objects",
	"$.bar[?(@)]":            "filters test only objects",
	"$.nested[?(@[0] == 1)]": "filters test only objects",

	// Jayway 2.0 gaps this package fills rather than copies.
	"$['foo','expensive'].x": "multi-name selections may be followed by more segments",
	"$..book[-1].title":      "a negative index in a scan selects nothing instead of failing",
	`$.store.book[?(@.category == "reference" || @.price >= 22.99)].title`: "double-quoted strings in filters work",
	`$.store.book[?(@.title == "Moby Dick")].price`:                        "double-quoted strings in filters work",
	"$.store.book[?(@.price > 'a')].title":                                 "a string that is not a number compares false instead of failing",
	"$.store.book[?(@.category in ['reference', 'poetry'])].title":         "in and nin are supported",
	"$.store.book[?(@.category nin ['fiction'])].title":                    "in and nin are supported",
	`$.store.book[?(@.category in ["reference"])].title`:                   "in and nin are supported",
	"$.store.book[?(@.category in ['reference','poetry'])].title":          "in and nin are supported",
	"$.store.book[?(@.price in [8.95,'8.99'])].title":                      "in and nin are supported",
	"$.store.book[?(@.isbn nin ['x'])].title":                              "in and nin are supported",
	"$.*.color":             "a wildcard followed by a member that no child has is an empty list",
	"$.bar[(@.length-1),0]": "(@.length-n) is supported only on its own in brackets",
}

func TestJayway(t *testing.T) {
	docText, err := os.ReadFile("testdata/jayway/doc.json")
	if err != nil {
		t.Fatal(err)
	}
	d := doc(t, string(docText))
	recorded, err := os.ReadFile("testdata/jayway/jayway-2.0.0.tsv")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(recorded)), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			t.Fatalf("malformed line %q", line)
		}
		path, status, result := f[0], f[1], f[2]
		seen[path] = true
		t.Run(path, func(t *testing.T) {
			var got any
			gotStatus := "OK"
			p, err := jsonpath.Parse(path)
			if err == nil {
				got, err = p.Get(d)
			}
			if err != nil {
				gotStatus = "ERR"
			}
			same := gotStatus == status
			if same && status == "OK" {
				same = cmp.Equal(doc(t, result), got)
			}
			reason, diverges := jaywayDivergences[path]
			switch {
			case !same && !diverges:
				t.Errorf("Get(%s) = %s %s, %v; Jayway 2.0.0 gives %s %s", path, gotStatus, encode(t, got), err, status, result)
			case same && diverges:
				t.Errorf("Get(%s) now agrees with Jayway 2.0.0; drop its divergence %q", path, reason)
			}
		})
	}
	for path := range jaywayDivergences {
		if !seen[path] {
			t.Errorf("divergence for %s names a path that testdata/jayway/paths.txt lacks", path)
		}
	}
}
