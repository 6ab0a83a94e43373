package choice_test

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/relais-ci/relais/shared/asl/choice"
)

func Example() {
	rule, err := choice.ParseJSON([]byte(`{
		"And": [
			{"Variable": "$.value", "NumericGreaterThanEquals": 20},
			{"Variable": "$.value", "NumericLessThan": 30}
		],
		"Next": "ValueInTwenties"
	}`), "States.Check.Choices[0]")
	if err != nil {
		panic(err)
	}
	d := json.NewDecoder(strings.NewReader(`{"type": "Private", "value": 22}`))
	d.UseNumber()
	var input any
	if err := d.Decode(&input); err != nil {
		panic(err)
	}
	ok, err := rule.Eval(input, nil)
	fmt.Println(ok, err, rule.Next)

	_, err = choice.ParseJSON([]byte(`{"Variable": "$.value", "NumericEquals": "22", "IsNull": true}`), "Choices[1]")
	fmt.Println(err)
	// Output:
	// true <nil> ValueInTwenties
	// invalid Choice rule: Choices[1]: missing Next: a top-level Choice rule must name the state to go to; Choices[1]: more than one comparison operator (IsNull, NumericEquals): a rule holds exactly one
}
