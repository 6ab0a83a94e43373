package jsonpath_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/relais-ci/relais/shared/asl/jsonpath"
)

func decode(s string) any {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		panic(err)
	}
	return v
}

func Example() {
	input := decode(`{"order": {"id": "o-1", "lines": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 0}]}}`)

	id, _ := jsonpath.MustParse("$.order.id").Get(input)
	skus, _ := jsonpath.MustParse("$.order.lines[?(@.qty > 0)].sku").Get(input)
	_, err := jsonpath.MustParse("$.order.customer").Get(input)

	out, _ := jsonpath.Set(input, jsonpath.MustParse("$.result.ok"), true)
	b, _ := json.Marshal(out.(map[string]any)["result"])

	fmt.Println(id)
	fmt.Println(skus)
	fmt.Println(errors.Is(err, jsonpath.ErrNoMatch), err)
	fmt.Println(string(b))
	// Output:
	// o-1
	// [a]
	// true path $.order.customer: no member "customer" at $.order
	// {"ok":true}
}
