package intrinsic

import (
	"crypto/rand"
	"fmt"
	"io"
	"strconv"
)

// Env is what an evaluation reads.
type Env struct {
	Input   any // what $ paths read: the state's effective input
	Context any // what $$ paths read: the context object
	// Rand supplies the randomness of States.UUID and of States.MathRandom without a seed.
	// Nil means crypto/rand; tests pass a fixed stream.
	Rand io.Reader
}

// Eval evaluates the call. See the package documentation for its errors.
func (c *Call) Eval(env Env) (any, error) {
	if env.Rand == nil {
		env.Rand = rand.Reader
	}
	return c.eval(&env)
}

func (c *Call) eval(env *Env) (any, error) {
	vals := make([]any, len(c.args))
	for i := range c.args {
		a := &c.args[i]
		switch a.kind {
		case argLiteral:
			vals[i] = a.lit
		case argCall:
			v, err := a.call.eval(env)
			if err != nil {
				return nil, err
			}
			vals[i] = v
		case argPath:
			doc := env.Input
			if a.path.Context() {
				doc = env.Context
			}
			v, err := a.path.Get(doc)
			if err != nil {
				return nil, fmt.Errorf("%s argument %d: %w", c.Name, i+1, err)
			}
			vals[i] = v
		}
	}
	return c.fn.eval(env.Rand, c, vals)
}

// function describes one States.* function.
type function struct {
	min, max int // argument counts; max -1 for no limit
	eval     func(rnd io.Reader, c *Call, args []any) (any, error)
	// check runs at parse time for problems that literal arguments already show.
	check func(p *parser, c *Call) error
}

func (f *function) arity() string {
	switch {
	case f.max < 0:
		return fmt.Sprintf("at least %d argument%s", f.min, plural(f.min))
	case f.min == f.max:
		return fmt.Sprintf("%d argument%s", f.min, plural(f.min))
	}
	return fmt.Sprintf("%d to %d arguments", f.min, f.max)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

var functions map[string]*function

func init() {
	noCheck := func(*parser, *Call) error { return nil }
	functions = map[string]*function{
		"Format":         {min: 1, max: -1, eval: format, check: checkFormat},
		"StringToJson":   {min: 1, max: 1, eval: stringToJSON},
		"JsonToString":   {min: 1, max: 1, eval: jsonToString},
		"Array":          {min: 0, max: -1, eval: array},
		"ArrayPartition": {min: 2, max: 2, eval: arrayPartition},
		"ArrayContains":  {min: 2, max: 2, eval: arrayContains},
		"ArrayRange":     {min: 3, max: 3, eval: arrayRange},
		"ArrayGetItem":   {min: 2, max: 2, eval: arrayGetItem},
		"ArrayLength":    {min: 1, max: 1, eval: arrayLength},
		"ArrayUnique":    {min: 1, max: 1, eval: arrayUnique},
		"Base64Encode":   {min: 1, max: 1, eval: base64Encode},
		"Base64Decode":   {min: 1, max: 1, eval: base64Decode},
		"Hash":           {min: 2, max: 2, eval: hashData, check: checkHash},
		"JsonMerge":      {min: 3, max: 3, eval: jsonMerge, check: checkJSONMerge},
		"MathRandom":     {min: 2, max: 3, eval: mathRandom},
		"MathAdd":        {min: 2, max: 2, eval: mathAdd},
		"StringSplit":    {min: 2, max: 2, eval: stringSplit},
		"UUID":           {min: 0, max: 0, eval: uuid},
	}
	for _, f := range functions {
		if f.check == nil {
			f.check = noCheck
		}
	}
}

func fail(c *Call, format string, args ...any) error {
	return &Error{Func: c.Name, Msg: fmt.Sprintf(format, args...)}
}

// ordinal names argument i (0-based) in messages.
func ordinal(i int) string {
	switch i {
	case 0:
		return "first"
	case 1:
		return "second"
	case 2:
		return "third"
	}
	return strconv.Itoa(i+1) + "th"
}
