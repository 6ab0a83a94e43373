package pipeline

import (
	"fmt"
	"sort"
)

// Violation is one way a declaration breaks a rule.
type Violation struct {
	// Path is the JSON path of the offending value, e.g.
	// "pipeline.stages[1].actions[0].configuration.ProjectName". Empty for syntax errors.
	Path string `json:"path,omitempty"`
	// Line and Column locate a syntax error (1-based); zero otherwise.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
	// Rule is the stable id of the broken rule (see Rules).
	Rule string `json:"rule"`
	// Exception is the AWS exception CodePipeline answers with for this rule, if any.
	Exception string `json:"exception,omitempty"`
	Message   string `json:"message"`
}

// String formats the violation as "path: message [rule]" (or "line:col: …").
func (v Violation) String() string {
	where := v.Path
	if v.Line > 0 {
		where = fmt.Sprintf("%d:%d", v.Line, v.Column)
	}
	if where == "" {
		where = "(root)"
	}
	return fmt.Sprintf("%s: %s [%s]", where, v.Message, v.Rule)
}

// AWS exceptions named by violations.
const (
	ExInvalidStructure = "InvalidStructureException"
	ExInvalidStage     = "InvalidStageDeclarationException"
	ExInvalidAction    = "InvalidActionDeclarationException"
	ExInvalidBlocker   = "InvalidBlockerDeclarationException"
	ExValidation       = "ValidationException"
	ExParamValidation  = "ParamValidationError" // the AWS CLI's, before any request
)

// Rule describes one rule Parse or Validate checks.
type Rule struct {
	ID        string
	Exception string
	Summary   string
}

var rules = map[string]Rule{}

func rule(id, exception, summary string) string {
	if _, dup := rules[id]; dup {
		panic("pipeline: duplicate rule " + id)
	}
	rules[id] = Rule{ID: id, Exception: exception, Summary: summary}
	return id
}

// Rule ids. Parse emits the first three; Validate the rest.
var (
	ruleSyntax       = rule("syntax", "", "the file is valid JSON")
	ruleUnknownField = rule("unknown-field", ExParamValidation, "every field is one CodePipeline knows")
	ruleType         = rule("type", ExParamValidation, "every value has the JSON type CodePipeline expects")

	ruleRequired = rule("required", ExValidation, "required fields are present")
	rulePattern  = rule("pattern", ExValidation, "names match CodePipeline's patterns")
	ruleLength   = rule("length", ExValidation, "strings respect CodePipeline's length limits")
	ruleEnum     = rule("enum", ExValidation, "enumerated fields hold one of their values")
	ruleRange    = rule("range", ExValidation, "numbers are in range (runOrder 1-999, version >= 1)")

	ruleStageCount        = rule("stage-count", ExInvalidStructure, "a pipeline has 2 to 50 stages")
	ruleFirstStageSource  = rule("first-stage-source", ExInvalidStructure, "the first stage holds at least one Source action")
	ruleFirstStageOnly    = rule("first-stage-only-source", ExInvalidStructure, "the first stage holds only Source actions")
	ruleSourceOutside     = rule("source-outside-first-stage", ExInvalidStructure, "only the first stage holds Source actions")
	ruleNonSource         = rule("non-source-action", ExInvalidStructure, "at least one action is not a Source action")
	ruleStageNameUnique   = rule("stage-name-unique", ExInvalidStage, "stage names are unique in a pipeline")
	ruleActionNameUnique  = rule("action-name-unique", ExInvalidAction, "action names are unique in a stage")
	ruleActionCount       = rule("action-count", ExInvalidStage, "a stage has 1 to 50 actions, a pipeline at most 500")
	ruleBlockerUnique     = rule("blocker-unique", ExInvalidBlocker, "blocker names are unique in a stage")
	ruleProviderUnknown   = rule("provider-unknown", ExInvalidAction, "the action type exists (or is owned by Custom)")
	ruleProviderTarget    = rule("provider-target", "", "Relais can run the action's provider on the target")
	ruleArtifactCount     = rule("artifact-count", ExInvalidAction, "input and output artifact counts fit the provider")
	ruleConfigRequired    = rule("config-required", ExInvalidAction, "the provider's required configuration keys are set")
	ruleConfigUnknown     = rule("config-unknown", ExInvalidAction, "configuration keys are ones the provider knows")
	ruleConfigValue       = rule("config-value", ExInvalidAction, "enumerated configuration values hold one of their values")
	ruleConfigArtifact    = rule("config-artifact", ExInvalidAction, "configuration that names an artifact names one of the action's input artifacts")
	ruleFeatureTarget     = rule("feature-target", "", "Relais supports the declaration's features on the target")
	ruleConfigLength      = rule("config-length", ExValidation, "configuration keys are 1-50 and values 1-1000 characters")
	ruleInputArtifact     = rule("input-artifact-unknown", ExInvalidAction, "every input artifact is produced by an action that runs earlier")
	ruleOutputUnique      = rule("output-artifact-unique", ExInvalidAction, "output artifact names are unique in a pipeline")
	ruleArtifactStore     = rule("artifact-store", ExInvalidStructure, "a pipeline has artifactStore or artifactStores, not both")
	ruleArtifactRegion    = rule("artifact-store-region", ExInvalidStructure, "every action region has an artifact store")
	ruleSourceRegion      = rule("source-region", ExInvalidAction, "Source actions are not cross-region")
	ruleNamespaceUnique   = rule("namespace-unique", ExInvalidAction, "action namespaces are unique in a pipeline")
	ruleNamespaceReserved = rule("namespace-reserved", ExInvalidAction, "namespaces 'codepipeline' and 'variables' are reserved")
	ruleNamespaceArtifact = rule("namespace-artifact", ExInvalidAction, "a namespace is not also an artifact name")
	ruleVariableSyntax    = rule("variable-syntax", ExInvalidAction, "variable references are well formed #{namespace.name}")
	ruleVariableRef       = rule("variable-reference", ExInvalidAction, "variable references name a namespace available to the action")
	ruleVariableUnique    = rule("variable-unique", ExInvalidStructure, "pipeline variable names are unique")
	ruleVariableCount     = rule("variable-count", ExInvalidStructure, "a pipeline has at most 50 variables")
	ruleV2Only            = rule("v2-only", ExInvalidStructure, "V2 features are not used in V1 pipelines")
	ruleTriggerSource     = rule("trigger-source-action", ExInvalidStructure, "a trigger names a CodeStarSourceConnection source action of the pipeline")
	ruleTriggerDuplicate  = rule("trigger-duplicate", ExInvalidStructure, "one trigger per source action")
	ruleTriggerFilters    = rule("trigger-filters", ExValidation, "a trigger has 1-3 push and 1-3 pullRequest filters when it has them")
	ruleTriggerCombo      = rule("trigger-filter-combination", ExInvalidStructure, "push filters use tags, branches, or branches with file paths; pull-request filters use branches")
	ruleTriggerPatterns   = rule("trigger-patterns", ExValidation, "includes and excludes hold 1-8 patterns")
	ruleTriggerGlob       = rule("trigger-glob", ExInvalidStructure, "filter patterns are valid globs")
	ruleApprovalTimeout   = rule("approval-timeout", ExInvalidAction, "timeoutInMinutes is set only on manual approvals, 5 minutes to 60 days")
)

// Rules lists every rule Parse and Validate can report, sorted by id.
func Rules() []Rule {
	out := make([]Rule, 0, len(rules))
	for _, r := range rules {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func newViolation(path, id, msg string) Violation {
	return Violation{Path: path, Rule: id, Exception: rules[id].Exception, Message: msg}
}

// Target says whose rules Validate applies.
type Target int

const (
	// TargetRules applies CodePipeline's rules only: what AWS would accept.
	TargetRules Target = iota
	// TargetAWS also refuses actions Relais cannot run on AWS.
	TargetAWS
	// TargetLocal also refuses actions Relais cannot run on one machine.
	TargetLocal
)

// ParseTarget reads a target as the CLI spells it: "" (CodePipeline's rules), "aws" or "local".
func ParseTarget(s string) (Target, error) {
	switch s {
	case "", "rules":
		return TargetRules, nil
	case "aws":
		return TargetAWS, nil
	case "local":
		return TargetLocal, nil
	}
	return TargetRules, fmt.Errorf("unknown target %q: want aws or local", s)
}

func (t Target) String() string {
	switch t {
	case TargetAWS:
		return "aws"
	case TargetLocal:
		return "local"
	}
	return "rules"
}

// sortViolations orders violations by path, comparing array indexes as numbers, and
// keeps the order of violations at the same path.
func sortViolations(vs []Violation) {
	sort.SliceStable(vs, func(i, j int) bool { return pathLess(vs[i].Path, vs[j].Path) })
}

// pathLess compares JSON paths so that "stages[2]" comes before "stages[10]".
func pathLess(a, b string) bool {
	for a != "" && b != "" {
		if isDigit(a[0]) && isDigit(b[0]) {
			na, ra := leadingNumber(a)
			nb, rb := leadingNumber(b)
			if na != nb {
				return na < nb
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// leadingNumber splits the digits at the start of s from the rest (numbers past
// int range compare by their first 18 digits, which is plenty for paths).
func leadingNumber(s string) (int, string) {
	n, i := 0, 0
	for ; i < len(s) && isDigit(s[i]); i++ {
		if i < 18 {
			n = n*10 + int(s[i]-'0')
		}
	}
	return n, s[i:]
}
