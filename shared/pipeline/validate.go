package pipeline

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// CodePipeline's limits.
const (
	MinStages             = 2
	MaxStages             = 50
	MaxActionsPerStage    = 50
	MaxActionsPerPipeline = 500
	MinRunOrder           = 1
	MaxRunOrder           = 999
	MaxConfigKeyLength    = 50
	MaxConfigValueLength  = 1000
	MaxVariables          = 50
	MaxTriggerFilters     = 3 // push or pullRequest filters per trigger
	MaxFilterPatterns     = 8 // patterns per includes or excludes list
	MinApprovalTimeout    = 5
	MaxApprovalTimeout    = 86400 // 60 days, in minutes
)

// Validate checks d against CodePipeline's structural rules and limits and, for
// TargetAWS and TargetLocal, whether Relais can run every action there. It reports
// every violation it finds, ordered by path (indexes in numeric order); none means d is
// valid.
func Validate(d *Declaration, target Target) []Violation {
	v := &validator{d: d, target: target}
	v.pipeline()
	v.stores()
	v.stages()
	v.flow()
	v.regions()
	v.variables()
	v.triggers()
	sortViolations(v.out)
	return v.out
}

type validator struct {
	d      *Declaration
	target Target
	out    []Violation

	// filled by flow: what each action makes available, and where it runs
	outputs    map[string]position
	namespaces map[string]position
	declared   map[string]bool // pipeline variable names
}

// position is where an action runs: its stage and its runOrder within the stage.
type position struct {
	stage, order int
	action       string
}

// before reports whether an action at p has finished before one at q starts.
func (p position) before(q position) bool {
	return p.stage < q.stage || p.stage == q.stage && p.order < q.order
}

func (v *validator) add(path, id, format string, args ...any) {
	v.out = append(v.out, newViolation(path, id, fmt.Sprintf(format, args...)))
}

// at makes a path from one relative to the declaration.
func (v *validator) at(rel string) string {
	if v.d.Root == "" {
		return rel
	}
	return v.d.Root + "." + rel
}

func (v *validator) stagePath(i int) string { return v.at("stages[" + strconv.Itoa(i) + "]") }

func (v *validator) actionPath(i, j int) string {
	return v.stagePath(i) + ".actions[" + strconv.Itoa(j) + "]"
}

// strSpec is a string constraint from CodePipeline's API reference.
type strSpec struct {
	min, max int
	extra    string // characters allowed besides ASCII letters and digits; "*" for any
	pattern  string // as AWS writes it, for messages
}

var (
	nameSpec      = strSpec{1, 100, ".@-_", `[A-Za-z0-9.@\-_]+`}
	artifactSpec  = strSpec{1, 100, "_-", `[a-zA-Z0-9_\-]+`}
	namespaceSpec = strSpec{1, 100, "@-_", `[A-Za-z0-9@\-_]+`}
	variableSpec  = strSpec{1, 128, "@-_", `[A-Za-z0-9@\-_]+`}
	regionSpec    = strSpec{4, 30, "-", `[A-Za-z0-9-]+`}
	versionSpec   = strSpec{1, 9, "-_", `[0-9A-Za-z_-]+`}
	providerSpec  = strSpec{1, 35, "-_", `[0-9A-Za-z_-]+`}
	bucketSpec    = strSpec{3, 63, "-.", `[a-zA-Z0-9\-\.]+`}
	roleArnSpec   = strSpec{1, 1024, "*", ""}
	keyIDSpec     = strSpec{1, 400, "*", ""}
	valueSpec     = strSpec{1, 1000, "*", ""}
	descSpec      = strSpec{1, 200, "*", ""}
)

// str checks a string field; an empty one is missing.
func (v *validator) str(path, s string, spec strSpec, required bool) {
	if s == "" {
		if required {
			v.add(path, ruleRequired, "Missing required parameter %q", lastKey(path))
		}
		return
	}
	if n := len([]rune(s)); n < spec.min {
		v.add(path, ruleLength, "Value '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", clip(s), spec.min)
	} else if n > spec.max {
		v.add(path, ruleLength, "Value '%s' failed to satisfy constraint: Member must have length less than or equal to %d", clip(s), spec.max)
	}
	if spec.extra != "*" && !charsIn(s, spec.extra) {
		v.add(path, rulePattern, "Value '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", clip(s), spec.pattern)
	}
}

func charsIn(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			continue
		}
		ok := false
		for j := 0; j < len(extra); j++ {
			if extra[j] == c {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// lastKey returns the last field name of a path.
func lastKey(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// clip shortens long values quoted in messages.
func clip(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[:57]) + "..."
	}
	return s
}

// enum checks an enumerated field; an empty one is missing when required.
func (v *validator) enum(path, s string, required bool, allowed ...string) {
	if s == "" {
		if required {
			v.add(path, ruleRequired, "Missing required parameter %q", lastKey(path))
		}
		return
	}
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	v.add(path, ruleEnum, "Value '%s' failed to satisfy constraint: Member must satisfy enum value set: %v", clip(s), allowed)
}

func (v *validator) pipeline() {
	d := v.d
	v.str(v.at("name"), d.Name, nameSpec, true)
	v.str(v.at("roleArn"), d.RoleArn, roleArnSpec, true)
	if d.Version < 0 {
		v.add(v.at("version"), ruleRange, "Value '%d' failed to satisfy constraint: Member must have value greater than or equal to 1", d.Version)
	}
	v.enum(v.at("pipelineType"), d.PipelineType, false, TypeV1, TypeV2)
	v.enum(v.at("executionMode"), d.ExecutionMode, false, ModeSuperseded, ModeQueued, ModeParallel)
	if d.Type() == TypeV1 && (d.ExecutionMode == ModeQueued || d.ExecutionMode == ModeParallel) {
		v.add(v.at("executionMode"), ruleV2Only, "Execution mode %s is only supported for pipelines of type V2", d.ExecutionMode)
	}
}

func (v *validator) stores() {
	d := v.d
	switch {
	case d.ArtifactStore == nil && d.ArtifactStores == nil:
		v.add(v.at("artifactStore"), ruleArtifactStore, "Pipeline must have either artifactStore or artifactStores")
	case d.ArtifactStore != nil && d.ArtifactStores != nil:
		v.add(v.at("artifactStores"), ruleArtifactStore, "Pipeline cannot have both artifactStore and artifactStores")
	}
	if d.ArtifactStore != nil {
		v.store(v.at("artifactStore"), d.ArtifactStore)
	}
	if d.ArtifactStores != nil && len(d.ArtifactStores) == 0 {
		v.add(v.at("artifactStores"), ruleArtifactStore, "artifactStores must have a store for at least one region")
	}
	for _, region := range sortedKeys(d.ArtifactStores) {
		s := d.ArtifactStores[region]
		p := join(v.at("artifactStores"), region)
		v.str(p, region, regionSpec, true)
		v.store(p, &s)
	}
}

func (v *validator) store(path string, s *ArtifactStore) {
	v.enum(path+".type", s.Type, true, "S3")
	v.str(path+".location", s.Location, bucketSpec, true)
	if k := s.EncryptionKey; k != nil {
		v.str(path+".encryptionKey.id", k.ID, keyIDSpec, true)
		v.enum(path+".encryptionKey.type", k.Type, true, "KMS")
	}
}

func (v *validator) stages() {
	d := v.d
	if n := len(d.Stages); n < MinStages {
		v.add(v.at("stages"), ruleStageCount, "Pipeline has %d stages; a pipeline must contain at least %d stages", n, MinStages)
	} else if n > MaxStages {
		v.add(v.at("stages"), ruleStageCount, "Pipeline has %d stages; a pipeline can contain at most %d stages", n, MaxStages)
	}
	stageNames := map[string]bool{}
	total, nonSource := 0, 0
	for i := range d.Stages {
		s := &d.Stages[i]
		sp := v.stagePath(i)
		v.str(sp+".name", s.Name, nameSpec, true)
		if s.Name != "" {
			if stageNames[s.Name] {
				v.add(sp+".name", ruleStageNameUnique, "Stage name '%s' is used by more than one stage; stage names must be unique within a pipeline", s.Name)
			}
			stageNames[s.Name] = true
		}
		v.blockers(sp, s.Blockers)
		v.conditions(sp, s)
		if n := len(s.Actions); n == 0 {
			v.add(sp+".actions", ruleActionCount, "Stage '%s' must contain at least one action", s.Name)
		} else if n > MaxActionsPerStage {
			v.add(sp+".actions", ruleActionCount, "Stage '%s' has %d actions; a stage can contain at most %d actions", s.Name, n, MaxActionsPerStage)
		}
		total += len(s.Actions)
		actionNames := map[string]bool{}
		sources := 0
		for j := range s.Actions {
			a := &s.Actions[j]
			ap := v.actionPath(i, j)
			if a.ActionTypeID.Category == CategorySource {
				sources++
				if i > 0 {
					v.add(ap+".actionTypeId.category", ruleSourceOutside, "Action '%s' in stage '%s' is a Source action; only the first stage of a pipeline can contain source actions", a.Name, s.Name)
				}
			} else {
				nonSource++
				if i == 0 {
					v.add(ap+".actionTypeId.category", ruleFirstStageOnly, "Action '%s' is a %s action; the first stage of a pipeline can contain source actions only", a.Name, a.ActionTypeID.Category)
				}
			}
			if a.Name != "" {
				if actionNames[a.Name] {
					v.add(ap+".name", ruleActionNameUnique, "Action name '%s' is used by more than one action in stage '%s'; action names must be unique within a stage", a.Name, s.Name)
				}
				actionNames[a.Name] = true
			}
			v.action(ap, a)
		}
		if i == 0 && sources == 0 {
			v.add(sp, ruleFirstStageSource, "The first stage of a pipeline must contain at least one source action")
		}
	}
	if total > MaxActionsPerPipeline {
		v.add(v.at("stages"), ruleActionCount, "Pipeline has %d actions; a pipeline can contain at most %d actions", total, MaxActionsPerPipeline)
	}
	if total > 0 && nonSource == 0 {
		v.add(v.at("stages"), ruleNonSource, "Pipeline must contain at least one action that is not a source action")
	}
}

func (v *validator) blockers(sp string, bs []Blocker) {
	names := map[string]bool{}
	for k, b := range bs {
		bp := sp + ".blockers[" + strconv.Itoa(k) + "]"
		v.str(bp+".name", b.Name, nameSpec, true)
		v.enum(bp+".type", b.Type, true, "Schedule")
		if b.Name != "" && names[b.Name] {
			v.add(bp+".name", ruleBlockerUnique, "Blocker name '%s' is used more than once in the stage", b.Name)
		}
		names[b.Name] = true
	}
}

var conditionResults = []string{"ROLLBACK", "FAIL", "RETRY", "SKIP"}

func (v *validator) conditions(sp string, s *Stage) {
	v2 := v.d.Type() == TypeV2
	check := func(field string, conds []Condition) {
		if !v2 {
			v.add(sp+"."+field, ruleV2Only, "Stage %s conditions are only supported for pipelines of type V2", field)
		}
		if v.target != TargetRules {
			v.add(sp+"."+field, ruleFeatureTarget, "Relais does not run stage %s conditions or results yet; remove %s to run this pipeline with Relais", field, field)
		}
		for k, c := range conds {
			cp := sp + "." + field + ".conditions[" + strconv.Itoa(k) + "]"
			v.enum(cp+".result", c.Result, false, conditionResults...)
			for r, rd := range c.Rules {
				rp := cp + ".rules[" + strconv.Itoa(r) + "]"
				v.str(rp+".name", rd.Name, nameSpec, true)
				v.enum(rp+".ruleTypeId.category", rd.RuleTypeID.Category, true, "Rule")
				v.str(rp+".ruleTypeId.provider", rd.RuleTypeID.Provider, providerSpec, true)
			}
		}
	}
	if f := s.OnFailure; f != nil {
		check("onFailure", f.Conditions)
		v.enum(sp+".onFailure.result", f.Result, false, conditionResults...)
		if f.RetryConfiguration != nil {
			v.enum(sp+".onFailure.retryConfiguration.retryMode", f.RetryConfiguration.RetryMode, false, "FAILED_ACTIONS", "ALL_ACTIONS")
		}
	}
	if s.OnSuccess != nil {
		check("onSuccess", s.OnSuccess.Conditions)
	}
	if s.BeforeEntry != nil {
		check("beforeEntry", s.BeforeEntry.Conditions)
	}
}

var categories = []string{CategorySource, CategoryBuild, CategoryDeploy, CategoryTest, CategoryInvoke, CategoryApproval, CategoryCompute}

// action checks one action on its own: fields, type, artifacts counts, configuration.
func (v *validator) action(ap string, a *Action) {
	t := a.ActionTypeID
	v.str(ap+".name", a.Name, nameSpec, true)
	v.enum(ap+".actionTypeId.category", t.Category, true, categories...)
	v.enum(ap+".actionTypeId.owner", t.Owner, true, OwnerAWS, OwnerThirdParty, OwnerCustom)
	v.str(ap+".actionTypeId.provider", t.Provider, providerSpec, true)
	v.str(ap+".actionTypeId.version", t.Version, versionSpec, true)
	if a.RunOrder < MinRunOrder || a.RunOrder > MaxRunOrder {
		v.add(ap+".runOrder", ruleRange, "Value '%d' failed to satisfy constraint: Member must have value between %d and %d", a.RunOrder, MinRunOrder, MaxRunOrder)
	}
	v.str(ap+".roleArn", a.RoleArn, roleArnSpec, false)
	v.str(ap+".region", a.Region, regionSpec, false)
	v.str(ap+".namespace", a.Namespace, namespaceSpec, false)
	for k, art := range a.InputArtifacts {
		v.str(ap+".inputArtifacts["+strconv.Itoa(k)+"].name", art.Name, artifactSpec, true)
	}
	for k, art := range a.OutputArtifacts {
		v.str(ap+".outputArtifacts["+strconv.Itoa(k)+"].name", art.Name, artifactSpec, true)
	}
	if a.TimeoutInMinutes != 0 {
		if t.Category != CategoryApproval || t.Provider != "Manual" {
			v.add(ap+".timeoutInMinutes", ruleApprovalTimeout, "timeoutInMinutes is only supported for manual approval actions; action '%s' is %s/%s", a.Name, t.Category, t.Provider)
		} else if a.TimeoutInMinutes < MinApprovalTimeout || a.TimeoutInMinutes > MaxApprovalTimeout {
			v.add(ap+".timeoutInMinutes", ruleApprovalTimeout, "timeoutInMinutes is %d; a manual approval times out after %d minutes to %d minutes (60 days)", a.TimeoutInMinutes, MinApprovalTimeout, MaxApprovalTimeout)
		}
	}

	keys := sortedKeys(a.Configuration)
	for _, k := range keys {
		val := a.Configuration[k]
		if n := len([]rune(k)); n < 1 || n > MaxConfigKeyLength {
			v.add(join(ap+".configuration", k), ruleConfigLength, "Configuration key '%s' has %d characters; keys have 1 to %d", clip(k), n, MaxConfigKeyLength)
		}
		if n := len([]rune(val)); n < 1 || n > MaxConfigValueLength {
			v.add(join(ap+".configuration", k), ruleConfigLength, "Configuration value of '%s' has %d characters; values have 1 to %d", clip(k), n, MaxConfigValueLength)
		}
	}

	if t.Category == "" || t.Owner == "" || t.Provider == "" || t.Version == "" {
		return // already reported as missing
	}
	p := lookupProvider(t)
	if p == nil {
		v.add(ap+".actionTypeId", ruleProviderUnknown, "%s in action '%s' is not available", t, a.Name)
		return
	}
	if v.target != TargetRules && !p.RunsOn(v.target) {
		where := "on AWS"
		if v.target == TargetLocal {
			where = "locally"
		}
		if p == customProvider {
			v.add(ap+".actionTypeId", ruleProviderTarget, "Relais does not run custom action types (action '%s', provider %s)", a.Name, t.Provider)
		} else {
			v.add(ap+".actionTypeId", ruleProviderTarget, "Relais cannot run %s/%s actions %s (action '%s')", t.Category, t.Provider, where, a.Name)
		}
	}
	v.artifactCount(ap+".inputArtifacts", a.Name, "input", len(a.InputArtifacts), p.Inputs)
	v.artifactCount(ap+".outputArtifacts", a.Name, "output", len(a.OutputArtifacts), p.Outputs)
	for _, k := range p.Required {
		if a.Configuration[k] == "" {
			v.add(ap+".configuration", ruleConfigRequired, "Action configuration for action '%s' is missing required configuration '%s'", a.Name, k)
		}
	}
	if p.conditional != nil {
		for _, need := range p.conditional(a.Configuration) {
			v.add(ap+".configuration", ruleConfigRequired, "Action configuration for action '%s': %s", a.Name, need[1])
		}
	}
	v.configArtifacts(ap, a, p)
	for _, k := range keys {
		if !p.OpenConfig && !p.knows(k) {
			v.add(join(ap+".configuration", k), ruleConfigUnknown, "Action configuration for action '%s' contains unknown configuration '%s'", a.Name, k)
			continue
		}
		if allowed, ok := p.Values[k]; ok && !hasReference(a.Configuration[k]) {
			val, found := a.Configuration[k], false
			for _, x := range allowed {
				found = found || x == val
			}
			if !found {
				v.add(join(ap+".configuration", k), ruleConfigValue, "Action configuration for action '%s': '%s' is not a valid value for '%s' (valid values: %v)", a.Name, clip(val), k, allowed)
			}
		}
	}
}

// configArtifacts checks configuration values that name input artifacts.
func (v *validator) configArtifacts(ap string, a *Action, p *Provider) {
	isInput := func(name string) bool {
		for _, in := range a.InputArtifacts {
			if in.Name == name {
				return true
			}
		}
		return false
	}
	for _, k := range p.ArtifactKeys {
		val, ok := a.Configuration[k]
		if ok && val != "" && !hasReference(val) && !isInput(val) {
			v.add(join(ap+".configuration", k), ruleConfigArtifact, "Action configuration for action '%s': %s names artifact '%s', which is not an input artifact of the action", a.Name, k, clip(val))
		}
	}
	for _, k := range p.ArtifactPathKeys {
		val, ok := a.Configuration[k]
		if !ok || val == "" || hasReference(val) {
			continue
		}
		art, path, found := strings.Cut(val, "::")
		switch {
		case !found || art == "" || path == "":
			v.add(join(ap+".configuration", k), ruleConfigArtifact, "Action configuration for action '%s': %s must be ArtifactName::path, not '%s'", a.Name, k, clip(val))
		case !isInput(art):
			v.add(join(ap+".configuration", k), ruleConfigArtifact, "Action configuration for action '%s': %s names artifact '%s', which is not an input artifact of the action", a.Name, k, art)
		}
	}
}

// artifactCount checks the number of an action's input or output artifacts, in AWS's words.
func (v *validator) artifactCount(path, action, kind string, n int, c Count) {
	switch {
	case n < c.Min:
		v.add(path, ruleArtifactCount, "Action '%s' declares %d %s artifacts which is less than the minimum count (%d)", action, n, kind, c.Min)
	case n > c.Max:
		v.add(path, ruleArtifactCount, "Action '%s' declares %d %s artifacts which is more than the maximum count (%d)", action, n, kind, c.Max)
	}
}

// flow checks what passes between actions: artifacts, namespaces and variable references.
func (v *validator) flow() {
	d := v.d
	v.outputs = map[string]position{}
	v.namespaces = map[string]position{}
	v.declared = map[string]bool{}
	for _, x := range d.Variables {
		v.declared[x.Name] = true
	}
	for i := range d.Stages {
		for j := range d.Stages[i].Actions {
			a := &d.Stages[i].Actions[j]
			pos := position{i, a.RunOrder, a.Name}
			for k, o := range a.OutputArtifacts {
				if o.Name == "" {
					continue
				}
				if prev, dup := v.outputs[o.Name]; dup {
					v.add(v.actionPath(i, j)+".outputArtifacts["+strconv.Itoa(k)+"].name", ruleOutputUnique, "Output artifact name '%s' is already used by action '%s'; output artifact names must be unique within a pipeline", o.Name, prev.action)
					continue
				}
				v.outputs[o.Name] = pos
			}
			if ns := a.Namespace; ns != "" {
				np := v.actionPath(i, j) + ".namespace"
				switch prev, dup := v.namespaces[ns]; {
				case ns == NamespaceCodePipeline || ns == NamespaceVariables:
					v.add(np, ruleNamespaceReserved, "Namespace '%s' is reserved", ns)
				case dup:
					v.add(np, ruleNamespaceUnique, "Namespace '%s' is already used by action '%s'; namespaces must be unique within a pipeline", ns, prev.action)
				default:
					v.namespaces[ns] = pos
				}
			}
		}
	}
	for i := range d.Stages {
		for j := range d.Stages[i].Actions {
			a := &d.Stages[i].Actions[j]
			ap := v.actionPath(i, j)
			pos := position{i, a.RunOrder, a.Name}
			if _, clash := v.outputs[a.Namespace]; clash && a.Namespace != "" {
				v.add(ap+".namespace", ruleNamespaceArtifact, "Namespace '%s' is also the name of an artifact; a namespace cannot be an artifact name", a.Namespace)
			}
			for k, in := range a.InputArtifacts {
				if in.Name == "" {
					continue
				}
				prod, ok := v.outputs[in.Name]
				switch {
				case !ok:
					v.add(ap+".inputArtifacts["+strconv.Itoa(k)+"].name", ruleInputArtifact, "Input artifact '%s' of action '%s' is not the output artifact of any action in the pipeline", in.Name, a.Name)
				case !prod.before(pos):
					v.add(ap+".inputArtifacts["+strconv.Itoa(k)+"].name", ruleInputArtifact, "Input artifact '%s' of action '%s' is produced by action '%s', which does not run before it", in.Name, a.Name, prod.action)
				}
			}
			for _, k := range sortedKeys(a.Configuration) {
				v.references(join(ap+".configuration", k), a.Configuration[k], pos)
			}
		}
	}
}

// references checks the variable references of one configuration value of an action at pos.
func (v *validator) references(path, val string, pos position) {
	if !hasReference(val) {
		return
	}
	refs, err := ParseReferences(val)
	if err != nil {
		v.add(path, ruleVariableSyntax, "%v", err)
	}
	for _, r := range refs {
		switch r.Namespace {
		case NamespaceCodePipeline:
			if r.Name != VarPipelineExecutionID {
				v.add(path, ruleVariableRef, "Variable %s does not exist: the codepipeline namespace holds only %s", r, VarPipelineExecutionID)
			}
		case NamespaceVariables:
			if !v.declared[r.Name] {
				v.add(path, ruleVariableRef, "Variable %s is not a pipeline-level variable of this pipeline", r)
			}
		default:
			owner, ok := v.namespaces[r.Namespace]
			switch {
			case !ok:
				v.add(path, ruleVariableRef, "Variable %s refers to namespace '%s', which no action in the pipeline has", r, r.Namespace)
			case !owner.before(pos):
				v.add(path, ruleVariableRef, "Variable %s refers to namespace '%s' of action '%s', which does not run before this action", r, r.Namespace, owner.action)
			}
		}
	}
}

// regions checks action regions against the artifact stores.
func (v *validator) regions() {
	d := v.d
	if d.ArtifactStore == nil && d.ArtifactStores == nil {
		return // reported by stores
	}
	home, sourceRegion, sourceAction := "", "", ""
	for i := range d.Stages {
		for j := range d.Stages[i].Actions {
			a := &d.Stages[i].Actions[j]
			if a.Region == "" {
				continue
			}
			rp := v.actionPath(i, j) + ".region"
			isSource := a.ActionTypeID.Category == CategorySource
			if isSource {
				if sourceRegion == "" {
					sourceRegion, sourceAction = a.Region, a.Name
				} else if a.Region != sourceRegion {
					v.add(rp, ruleSourceRegion, "Source action '%s' is in region '%s' but source action '%s' is in '%s'; source actions cannot be cross-region actions", a.Name, a.Region, sourceAction, sourceRegion)
					continue
				}
			}
			if d.ArtifactStores != nil {
				if _, ok := d.ArtifactStores[a.Region]; !ok {
					v.add(rp, ruleArtifactRegion, "Action '%s' is in region '%s', for which artifactStores has no artifact store", a.Name, a.Region)
				}
				continue
			}
			// One artifactStore: every action runs in the pipeline's own region, taken
			// to be the first region declared.
			if home == "" {
				home = a.Region
			} else if a.Region != home {
				if isSource {
					v.add(rp, ruleSourceRegion, "Source action '%s' is in region '%s' but the pipeline's actions run in '%s'; source actions cannot be cross-region actions", a.Name, a.Region, home)
				} else {
					v.add(rp, ruleArtifactRegion, "Action '%s' is in region '%s' but other actions are in '%s'; cross-region actions need artifactStores with an artifact store for each region", a.Name, a.Region, home)
				}
			}
		}
	}
}

func (v *validator) variables() {
	d := v.d
	if d.Variables == nil {
		return
	}
	if d.Type() == TypeV1 {
		v.add(v.at("variables"), ruleV2Only, "Pipeline-level variables are only supported for pipelines of type V2")
	}
	if len(d.Variables) > MaxVariables {
		v.add(v.at("variables"), ruleVariableCount, "Pipeline has %d variables; a pipeline can have at most %d", len(d.Variables), MaxVariables)
	}
	seen := map[string]bool{}
	for i, x := range d.Variables {
		p := v.at("variables[" + strconv.Itoa(i) + "]")
		v.str(p+".name", x.Name, variableSpec, true)
		v.str(p+".defaultValue", x.DefaultValue, valueSpec, false)
		v.str(p+".description", x.Description, descSpec, false)
		if x.Name != "" && seen[x.Name] {
			v.add(p+".name", ruleVariableUnique, "Variable name '%s' is declared more than once", x.Name)
		}
		seen[x.Name] = true
	}
}

func (v *validator) triggers() {
	d := v.d
	if d.Triggers == nil {
		return
	}
	if d.Type() == TypeV1 {
		v.add(v.at("triggers"), ruleV2Only, "Triggers are only supported for pipelines of type V2")
	}
	sources := map[string]*Action{}
	for i := range d.Stages {
		for j := range d.Stages[i].Actions {
			if a := &d.Stages[i].Actions[j]; a.ActionTypeID.Category == CategorySource {
				sources[a.Name] = a
			}
		}
	}
	seen := map[string]bool{}
	for i, t := range d.Triggers {
		tp := v.at("triggers[" + strconv.Itoa(i) + "]")
		v.enum(tp+".providerType", t.ProviderType, true, "CodeStarSourceConnection")
		g := t.GitConfiguration
		if g == nil {
			v.add(tp+".gitConfiguration", ruleRequired, "Missing required parameter %q", "gitConfiguration")
			continue
		}
		gp := tp + ".gitConfiguration"
		v.str(gp+".sourceActionName", g.SourceActionName, nameSpec, true)
		if name := g.SourceActionName; name != "" {
			switch a := sources[name]; {
			case a == nil:
				v.add(gp+".sourceActionName", ruleTriggerSource, "Trigger names source action '%s', which is not a source action of the pipeline", name)
			case a.ActionTypeID.Provider != "CodeStarSourceConnection":
				v.add(gp+".sourceActionName", ruleTriggerSource, "Trigger names source action '%s' of provider %s; triggers apply only to CodeStarSourceConnection source actions", name, a.ActionTypeID.Provider)
			}
			if seen[name] {
				v.add(gp+".sourceActionName", ruleTriggerDuplicate, "Source action '%s' already has a trigger; only one trigger configuration can be specified per source action", name)
			}
			seen[name] = true
		}
		if g.Push != nil && (len(g.Push) == 0 || len(g.Push) > MaxTriggerFilters) {
			v.add(gp+".push", ruleTriggerFilters, "Trigger has %d push filters; it can have 1 to %d", len(g.Push), MaxTriggerFilters)
		}
		if g.PullRequest != nil && (len(g.PullRequest) == 0 || len(g.PullRequest) > MaxTriggerFilters) {
			v.add(gp+".pullRequest", ruleTriggerFilters, "Trigger has %d pull request filters; it can have 1 to %d", len(g.PullRequest), MaxTriggerFilters)
		}
		for k, f := range g.Push {
			fp := gp + ".push[" + strconv.Itoa(k) + "]"
			switch {
			case f.Tags != nil && (f.Branches != nil || f.FilePaths != nil):
				v.add(fp, ruleTriggerCombo, "A push filter on tags cannot also filter on branches or file paths")
			case f.Tags == nil && f.Branches == nil:
				v.add(fp, ruleTriggerCombo, "A push filter must filter on tags or on branches (file paths need branches)")
			}
			v.criteria(fp+".tags", f.Tags)
			v.criteria(fp+".branches", f.Branches)
			v.criteria(fp+".filePaths", f.FilePaths)
		}
		for k, f := range g.PullRequest {
			fp := gp + ".pullRequest[" + strconv.Itoa(k) + "]"
			if f.Branches == nil {
				v.add(fp, ruleTriggerCombo, "A pull request filter must filter on branches")
			}
			for e, ev := range f.Events {
				v.enum(fp+".events["+strconv.Itoa(e)+"]", ev, true, EventOpen, EventUpdated, EventClosed)
			}
			v.criteria(fp+".branches", f.Branches)
			v.criteria(fp+".filePaths", f.FilePaths)
		}
	}
}

func (v *validator) criteria(path string, c *FilterCriteria) {
	if c == nil {
		return
	}
	if c.Includes == nil && c.Excludes == nil {
		v.add(path, ruleTriggerPatterns, "Filter criteria need includes or excludes")
	}
	for _, list := range []struct {
		name     string
		patterns []string
	}{{"includes", c.Includes}, {"excludes", c.Excludes}} {
		if list.patterns == nil {
			continue
		}
		lp := path + "." + list.name
		if n := len(list.patterns); n == 0 || n > MaxFilterPatterns {
			v.add(lp, ruleTriggerPatterns, "%s has %d patterns; it can have 1 to %d", list.name, n, MaxFilterPatterns)
		}
		for k, pat := range list.patterns {
			if pat == "" || !doublestar.ValidatePattern(pat) {
				v.add(lp+"["+strconv.Itoa(k)+"]", ruleTriggerGlob, "Pattern '%s' is not a valid glob pattern", clip(pat))
			}
		}
	}
}
