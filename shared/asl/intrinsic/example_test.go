package intrinsic_test

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/relais-ci/relais/shared/asl/intrinsic"
)

func Example() {
	call, err := intrinsic.Parse(`States.Format('Hello, {}! You have {} items.', $.name, States.ArrayLength($.items))`)
	if err != nil {
		panic(err)
	}
	d := json.NewDecoder(strings.NewReader(`{"name": "Arnav", "items": [1, 2, 3]}`))
	d.UseNumber()
	var input any
	if err := d.Decode(&input); err != nil {
		panic(err)
	}
	out, err := call.Eval(intrinsic.Env{Input: input})
	fmt.Println(out, err)

	bad, _ := intrinsic.Parse(`States.ArrayRange(1, 5, $.step)`)
	_, err = bad.Eval(intrinsic.Env{Input: map[string]any{"step": json.Number("0")}})
	fmt.Println(err)
	// Output:
	// Hello, Arnav! You have 3 items. <nil>
	// States.ArrayRange: the step (third argument) must not be 0
}
