package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/relais-ci/relais/shared/pipeline"
	"github.com/relais-ci/relais/statemachines"
)

// declared is a pipeline declaration compiled at synth time, and the AWS resources its
// actions name, which the action function (and the default project) may use and nothing
// else.
type declared struct {
	Name string
	// Raw is the declaration's text, installed on deploy.
	Raw []byte
	// ASL is the compiled machine, placeholders still in.
	ASL []byte
	// Projects are CodeBuild project names (Build and Test actions).
	Projects []string
	// DeployBuckets receive Deploy/S3 actions' artifacts; ACLBuckets are those of them
	// that some action writes with a CannedACL; DeployKeys are the KMS keys
	// (KMSEncryptionKeyARN, key ARNs only) deployed objects are encrypted with.
	// SourceBuckets are read by Source/S3 actions.
	DeployBuckets []string
	ACLBuckets    []string
	DeployKeys    []string
	SourceBuckets []string
	// Functions are Lambda functions Invoke actions call, as their FunctionName says
	// (a name, name:qualifier, or an ARN).
	Functions []string
	// Stacks and ChangeSets are what Deploy/CloudFormation actions create, update,
	// execute and delete; StackRoles are the roles they pass to CloudFormation.
	Stacks     []string
	ChangeSets []string
	StackRoles []string
	// Topics are the SNS topics Manual approvals' NotificationArn names, which get the
	// approval requests besides the stack's approval topic.
	Topics []string
}

// loadPipelines reads, validates for AWS and compiles every *.json in dir, in file name
// order. A declaration that AWS cannot run stops the synth with every violation, as
// `relais validate --target aws` would print them.
func loadPipelines(dir string) ([]declared, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("list pipelines in %s: %w", dir, err)
	}
	sort.Strings(files)
	var out []declared
	names := map[string]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read pipeline: %w", err)
		}
		d, err := pipeline.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("pipeline %s: %w", f, err)
		}
		if v := pipeline.Validate(d, pipeline.TargetAWS); len(v) > 0 {
			msgs := make([]string, len(v))
			for i, x := range v {
				msgs[i] = x.String()
			}
			return nil, fmt.Errorf("pipeline %s cannot run on AWS:\n  %s", f, strings.Join(msgs, "\n  "))
		}
		if prev, ok := names[d.Name]; ok {
			return nil, fmt.Errorf("pipelines %s and %s are both named %s", prev, f, d.Name)
		}
		names[d.Name] = f
		asl, err := statemachines.Compile(d)
		if err != nil {
			return nil, fmt.Errorf("compile pipeline %s: %w", d.Name, err)
		}
		p := declared{Name: d.Name, Raw: raw, ASL: asl}
		for _, st := range d.Stages {
			for _, a := range st.Actions {
				p.addResources(a)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// addResources records what a's configuration names. Values holding #{…} variables
// are resolved only at run time, so they cannot be granted ahead: such an action fails
// with AccessDenied unless the resource is granted otherwise.
func (p *declared) addResources(a pipeline.Action) {
	add := func(list *[]string, v string) {
		if v == "" || strings.Contains(v, "#{") || slices.Contains(*list, v) {
			return
		}
		*list = append(*list, v)
	}
	cfg := a.Configuration
	t := a.ActionTypeID
	switch {
	case t.Owner == "AWS" && t.Provider == "CodeBuild":
		add(&p.Projects, cfg["ProjectName"])
	case t.Category == "Deploy" && t.Provider == "S3":
		add(&p.DeployBuckets, cfg["BucketName"])
		if cfg["CannedACL"] != "" {
			add(&p.ACLBuckets, cfg["BucketName"])
		}
		// IAM checks kms: actions against the key, never an alias: an alias or a key id
		// cannot be granted here.
		if k := cfg["KMSEncryptionKeyARN"]; strings.HasPrefix(k, "arn:") && strings.Contains(k, ":key/") {
			add(&p.DeployKeys, k)
		}
	case t.Category == "Source" && t.Provider == "S3":
		add(&p.SourceBuckets, cfg["S3Bucket"])
	case t.Category == "Invoke" && t.Provider == "Lambda":
		add(&p.Functions, cfg["FunctionName"])
	case t.Category == "Approval" && t.Provider == "Manual":
		add(&p.Topics, cfg["NotificationArn"])
	case t.Category == "Deploy" && t.Provider == "CloudFormation":
		add(&p.Stacks, cfg["StackName"])
		add(&p.ChangeSets, cfg["ChangeSetName"])
		add(&p.StackRoles, cfg["RoleArn"])
	}
}
