package api

import (
	"fmt"
	"regexp"
	"unicode/utf8"
)

// Constraints of CodePipeline's request members, as its API reference states them.
var (
	namePattern         = regexp.MustCompile(`^[A-Za-z0-9.@\-_]+$`)
	clientTokenPattern  = regexp.MustCompile(`^[a-zA-Z0-9-]+$`)
	variableNamePattern = regexp.MustCompile(`^[A-Za-z0-9@\-_]+$`)
	reasonPattern       = regexp.MustCompile(`^[a-zA-Z0-9!@ \(\)\.\*\?\-]+$`)
)

// checks collects the violations of one request, reported together as AWS does
// ("2 validation errors detected: …").
type checks []string

func (c *checks) add(format string, args ...any) {
	*c = append(*c, fmt.Sprintf(format, args...))
}

// name checks a pipeline, stage or action name.
func (c *checks) name(member, v string) {
	switch {
	case v == "":
		c.add("Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	case utf8.RuneCountInString(v) > 100:
		c.add("Value at '%s' failed to satisfy constraint: Member must have length less than or equal to 100", member)
	case !namePattern.MatchString(v):
		c.add("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [A-Za-z0-9.@\\-_]+", v, member)
	}
}

// executionID checks a pipeline execution id.
func (c *checks) executionID(member, v string) {
	switch {
	case v == "":
		c.add("Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	case len(v) > 200:
		// Relais's own ids are UUIDs, as CodePipeline's; ids derived from webhook
		// deliveries need not be, so only the length is bounded.
		c.add("Value at '%s' failed to satisfy constraint: Member must have length less than or equal to 200", member)
	}
}

func (c *checks) maxResults(v, most int) {
	if v < 0 || v > most {
		c.add("Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and %d", v, most)
	}
}

// err returns the ValidationException of the collected violations, or nil.
func (c checks) err() error {
	switch len(c) {
	case 0:
		return nil
	case 1:
		return validation("1 validation error detected: %s", c[0])
	}
	msg := fmt.Sprintf("%d validation errors detected: ", len(c))
	for i, v := range c {
		if i > 0 {
			msg += "; "
		}
		msg += v
	}
	return validation("%s", msg)
}
