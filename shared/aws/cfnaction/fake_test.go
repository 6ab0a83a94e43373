package cfnaction

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// fakeCFN stands in for CloudFormation's Query API (Version 2010-05-15): it checks the
// requests the SDK sends (form-encoded, signed for cloudformation), keeps stacks, their
// events and change sets, and answers in the XML AWS documents. Operations do not end by
// themselves: a test ends one with finish, which returns the EventBridge event
// CloudFormation would send.
type fakeCFN struct {
	t       *testing.T
	s3      *s3.Client // reads templates passed by TemplateURL
	account string
	region  string

	mu       sync.Mutex
	requests []url.Values
	stacks   map[string]*fakeStack // live stacks by name
	byID     map[string]*fakeStack // every stack, deleted ones too
	seq      int
	clock    time.Time
	// pageSize is how many events DescribeStackEvents returns at a time.
	pageSize int
	// polls is how many DescribeChangeSet calls a change set stays CREATE_PENDING for.
	polls int
}

type fakeStack struct {
	id, name, status, reason string
	current, pending         deployment // what the stack is, what its operation makes it
	op                       string     // the running or last operation: create, update, delete, rollback
	token                    string     // client request token of the last operation
	events                   []fakeEvent
	changeSets               map[string]*fakeChangeSet
}

// deployment is a stack's template and settings.
type deployment struct {
	template string
	params   map[string]string
	tags     map[string]string
	caps     []string
	role     string
	policy   string
}

type fakeEvent struct {
	id, token, logical, physical, typ, status, reason string
	at                                                time.Time
}

type fakeChangeSet struct {
	id, name, kind, status, exec, reason, desc, clientToken string
	d                                                       deployment
	polls                                                   int
}

func newFakeCFN(t *testing.T, s3c *s3.Client) *fakeCFN {
	return &fakeCFN{
		t: t, s3: s3c, account: "123456789012", region: "eu-west-1",
		stacks: map[string]*fakeStack{}, byID: map[string]*fakeStack{},
		clock: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), pageSize: 100, polls: 1,
	}
}

// fakeError is an error answer: HTTP 400 with CloudFormation's ErrorResponse.
type fakeError struct{ code, msg string }

func (e *fakeError) Error() string { return e.code + ": " + e.msg }

func validation(format string, args ...any) error {
	return &fakeError{"ValidationError", fmt.Sprintf(format, args...)}
}

var authRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=AKID/\d{8}/eu-west-1/cloudformation/aws4_request, SignedHeaders=\S+, Signature=[0-9a-f]{64}$`)

func (f *fakeCFN) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		http.Error(w, "want POST /", http.StatusBadRequest)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		http.Error(w, "unexpected content type "+ct, http.StatusBadRequest)
		return
	}
	if a := r.Header.Get("Authorization"); !authRE.MatchString(a) {
		http.Error(w, "unexpected authorization "+a, http.StatusForbidden)
		return
	}
	raw, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(raw))
	if err != nil || form.Get("Version") != "2010-05-15" {
		http.Error(w, "bad form "+string(raw), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, form)
	op := form.Get("Action")
	var body string
	switch op {
	case "DescribeStacks":
		body, err = f.describeStacks(form)
	case "DescribeStackEvents":
		body, err = f.describeStackEvents(form)
	case "CreateStack":
		body, err = f.createStack(form)
	case "UpdateStack":
		body, err = f.updateStack(form)
	case "DeleteStack":
		err = f.deleteStack(form)
	case "CancelUpdateStack":
		err = f.cancelUpdateStack(form)
	case "CreateChangeSet":
		body, err = f.createChangeSet(form)
	case "DescribeChangeSet":
		body, err = f.describeChangeSet(form)
	case "DeleteChangeSet":
		err = f.deleteChangeSet(form)
	case "ExecuteChangeSet":
		err = f.executeChangeSet(form)
	default:
		err = &fakeError{"InvalidAction", "unexpected action " + op}
	}
	w.Header().Set("Content-Type", "text/xml")
	if e, ok := err.(*fakeError); ok {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>`+
			`<Code>%s</Code><Message>%s</Message></Error><RequestId>req-%d</RequestId></ErrorResponse>`, e.code, esc(e.msg), len(f.requests))
		return
	}
	if err != nil {
		f.t.Errorf("fake cloudformation %s: %v", op, err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, `<%sResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><%sResult>%s</%sResult>`+
		`<ResponseMetadata><RequestId>req-%d</RequestId></ResponseMetadata></%sResponse>`, op, op, body, op, len(f.requests), op)
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func tag(name, value string) string {
	if value == "" {
		return ""
	}
	return "<" + name + ">" + esc(value) + "</" + name + ">"
}

func (f *fakeCFN) now() time.Time {
	f.clock = f.clock.Add(time.Second)
	return f.clock
}

// members reads a list of structures: prefix.member.N.field.
func members(form url.Values, prefix string, fields ...string) []map[string]string {
	var out []map[string]string
	for n := 1; ; n++ {
		m := map[string]string{}
		for _, fl := range fields {
			k := fmt.Sprintf("%s.member.%d.%s", prefix, n, fl)
			if v, ok := form[k]; ok {
				m[fl] = v[0]
			}
		}
		if len(m) == 0 {
			return out
		}
		out = append(out, m)
	}
}

func list(form url.Values, prefix string) []string {
	var out []string
	for n := 1; form.Has(fmt.Sprintf("%s.member.%d", prefix, n)); n++ {
		out = append(out, form.Get(fmt.Sprintf("%s.member.%d", prefix, n)))
	}
	return out
}

// stack finds a stack by name (live) or id (any).
func (f *fakeCFN) stack(nameOrID string) *fakeStack {
	if s, ok := f.byID[nameOrID]; ok {
		return s
	}
	return f.stacks[nameOrID]
}

// template is the part of a template the fake reads.
type template struct {
	Parameters map[string]struct {
		Default *string `json:"Default"`
	} `json:"Parameters"`
	Resources map[string]struct {
		Type string `json:"Type"`
	} `json:"Resources"`
	Outputs map[string]struct {
		Value any `json:"Value"`
	} `json:"Outputs"`
}

// deployment reads and checks the template and settings of a request, as CloudFormation
// would.
func (f *fakeCFN) deployment(form url.Values) (deployment, error) {
	d := deployment{params: map[string]string{}, tags: map[string]string{}, caps: list(form, "Capabilities"),
		role: form.Get("RoleARN"), policy: form.Get("StackPolicyBody")}
	body, u := form.Get("TemplateBody"), form.Get("TemplateURL")
	switch {
	case body != "" && u != "":
		return d, validation("Specify exactly one of TemplateBody or TemplateUrl.")
	case len(body) > 51200:
		return d, validation("1 validation error detected: Value '...' at 'templateBody' failed to satisfy constraint: Member must have length less than or equal to 51200")
	case u != "":
		rest, ok := strings.CutPrefix(u, "https://s3.eu-west-1.amazonaws.com/")
		bucket, key, _ := strings.Cut(rest, "/")
		key, err := url.PathUnescape(key)
		if !ok || err != nil {
			return d, validation("TemplateURL must be a supported URL.")
		}
		out, err := f.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return d, validation("S3 error: Access Denied (%v)", err)
		}
		data, _ := io.ReadAll(out.Body)
		out.Body.Close()
		body = string(data)
	}
	d.template = body
	var tmpl template
	if err := json.Unmarshal([]byte(body), &tmpl); err != nil {
		return d, validation("Template format error: JSON not well-formed. (%v)", err)
	}
	for _, p := range members(form, "Parameters", "ParameterKey", "ParameterValue") {
		if _, ok := tmpl.Parameters[p["ParameterKey"]]; !ok {
			return d, validation("Parameters: [%s] do not exist in the template", p["ParameterKey"])
		}
		d.params[p["ParameterKey"]] = p["ParameterValue"]
	}
	for name, p := range tmpl.Parameters {
		if _, ok := d.params[name]; !ok {
			if p.Default == nil {
				return d, validation("Parameters: [%s] must have values", name)
			}
		}
	}
	for _, t := range members(form, "Tags", "Key", "Value") {
		d.tags[t["Key"]] = t["Value"]
	}
	for _, r := range tmpl.Resources {
		if strings.HasPrefix(r.Type, "AWS::IAM::") && !slices.Contains(d.caps, "CAPABILITY_IAM") && !slices.Contains(d.caps, "CAPABILITY_NAMED_IAM") {
			return d, &fakeError{"InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_IAM]"}
		}
	}
	return d, nil
}

func (d deployment) same(o deployment) bool {
	return d.template == o.template && fmt.Sprint(d.params) == fmt.Sprint(o.params) && fmt.Sprint(d.tags) == fmt.Sprint(o.tags)
}

// outputs evaluates the template's Outputs: literal values and {"Ref": parameter}.
func (d deployment) outputs() map[string]string {
	var tmpl template
	json.Unmarshal([]byte(d.template), &tmpl)
	out := map[string]string{}
	for k, o := range tmpl.Outputs {
		switch v := o.Value.(type) {
		case string:
			out[k] = v
		case map[string]any:
			ref, _ := v["Ref"].(string)
			if val, ok := d.params[ref]; ok {
				out[k] = val
			} else if p := tmpl.Parameters[ref]; p.Default != nil {
				out[k] = *p.Default
			}
		}
	}
	return out
}

// begin starts an operation on a stack: its status and the stack-level event.
func (f *fakeCFN) begin(s *fakeStack, op, status, tok string) {
	s.op, s.status, s.reason, s.token = op, status, "User Initiated", tok
	f.addEvent(s, s.name, s.id, "AWS::CloudFormation::Stack", status, "User Initiated")
}

func (f *fakeCFN) addEvent(s *fakeStack, logical, physical, typ, status, reason string) {
	f.seq++
	s.events = append(s.events, fakeEvent{id: fmt.Sprintf("ev-%d", f.seq), token: s.token, logical: logical,
		physical: physical, typ: typ, status: status, reason: reason, at: f.now()})
}

func (f *fakeCFN) newStack(name string) *fakeStack {
	f.seq++
	s := &fakeStack{name: name, changeSets: map[string]*fakeChangeSet{},
		id: fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/%08d-aaaa-bbbb-cccc-dddddddddddd", f.region, f.account, name, f.seq)}
	f.stacks[name], f.byID[s.id] = s, s
	return s
}

func (f *fakeCFN) createStack(form url.Values) (string, error) {
	name, tok := form.Get("StackName"), form.Get("ClientRequestToken")
	if s, ok := f.stacks[name]; ok {
		if tok != "" && s.op == "create" && s.token == tok {
			return tag("StackId", s.id), nil // a retry
		}
		return "", &fakeError{"AlreadyExistsException", "Stack [" + name + "] already exists"}
	}
	d, err := f.deployment(form)
	if err != nil {
		return "", err
	}
	s := f.newStack(name)
	s.pending = d
	f.begin(s, "create", "CREATE_IN_PROGRESS", tok)
	return tag("StackId", s.id), nil
}

func (f *fakeCFN) updateStack(form url.Values) (string, error) {
	name, tok := form.Get("StackName"), form.Get("ClientRequestToken")
	s, ok := f.stacks[name]
	if !ok {
		return "", validation("Stack [%s] does not exist", name)
	}
	if tok != "" && s.token == tok && s.op == "update" {
		return tag("StackId", s.id), nil // a retry
	}
	switch s.status {
	case "CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE":
	default:
		return "", validation("Stack:%s is in %s state and can not be updated.", s.id, s.status)
	}
	d, err := f.deployment(form)
	if err != nil {
		return "", err
	}
	if d.same(s.current) {
		return "", validation("No updates are to be performed.")
	}
	s.pending = d
	f.begin(s, "update", "UPDATE_IN_PROGRESS", tok)
	return tag("StackId", s.id), nil
}

func (f *fakeCFN) deleteStack(form url.Values) error {
	s, ok := f.stacks[form.Get("StackName")]
	if !ok {
		return nil // deleting a stack that does not exist succeeds
	}
	tok := form.Get("ClientRequestToken")
	if tok != "" && s.token == tok && s.op == "delete" {
		return nil
	}
	if strings.HasSuffix(s.status, "_IN_PROGRESS") && s.status != "REVIEW_IN_PROGRESS" && s.status != "DELETE_IN_PROGRESS" {
		return validation("Stack [%s] cannot be deleted while in status %s", s.name, s.status)
	}
	f.begin(s, "delete", "DELETE_IN_PROGRESS", tok)
	return nil
}

func (f *fakeCFN) cancelUpdateStack(form url.Values) error {
	s := f.stack(form.Get("StackName"))
	if s == nil || s.status != "UPDATE_IN_PROGRESS" {
		return validation("CancelUpdateStack cannot be called from current stack status")
	}
	s.op = "rollback"
	s.status = "UPDATE_ROLLBACK_IN_PROGRESS"
	f.addEvent(s, s.name, s.id, "AWS::CloudFormation::Stack", s.status, "Stack update cancelled")
	return nil
}

func (f *fakeCFN) findChangeSet(form url.Values) (*fakeStack, *fakeChangeSet) {
	name := form.Get("ChangeSetName")
	for _, s := range f.byID {
		for _, cs := range s.changeSets {
			if cs.id == name {
				return s, cs
			}
		}
	}
	s := f.stack(form.Get("StackName"))
	if s == nil {
		return nil, nil
	}
	return s, s.changeSets[name]
}

func (f *fakeCFN) createChangeSet(form url.Values) (string, error) {
	name, csName, kind := form.Get("StackName"), form.Get("ChangeSetName"), form.Get("ChangeSetType")
	s, ok := f.stacks[name]
	switch {
	case kind == "CREATE" && ok && s.status != "REVIEW_IN_PROGRESS":
		return "", validation("Stack [%s] already exists and cannot be created again with the changeSet [%s].", name, csName)
	case kind != "CREATE" && (!ok || s.status == "REVIEW_IN_PROGRESS"):
		return "", validation("Stack [%s] does not exist", name)
	case ok && s.changeSets[csName] != nil:
		return "", &fakeError{"AlreadyExistsException", "ChangeSet [" + csName + "] already exists"}
	}
	d, err := f.deployment(form)
	if err != nil {
		return "", err
	}
	if !ok {
		s = f.newStack(name)
		s.status, s.op = "REVIEW_IN_PROGRESS", "review"
		f.addEvent(s, s.name, s.id, "AWS::CloudFormation::Stack", s.status, "User Initiated")
	}
	f.seq++
	cs := &fakeChangeSet{
		id:   fmt.Sprintf("arn:aws:cloudformation:%s:%s:changeSet/%s/%08d-cs", f.region, f.account, csName, f.seq),
		name: csName, kind: kind, status: "CREATE_PENDING", exec: "UNAVAILABLE", desc: form.Get("Description"),
		clientToken: form.Get("ClientToken"), d: d, polls: f.polls,
	}
	s.changeSets[csName] = cs
	return tag("Id", cs.id) + tag("StackId", s.id), nil
}

func (f *fakeCFN) describeChangeSet(form url.Values) (string, error) {
	s, cs := f.findChangeSet(form)
	if cs == nil {
		return "", &fakeError{"ChangeSetNotFound", "ChangeSet [" + form.Get("ChangeSetName") + "] does not exist"}
	}
	changes := ""
	if cs.status == "CREATE_PENDING" {
		if cs.polls > 0 {
			cs.polls--
		} else if cs.kind == "UPDATE" && cs.d.same(s.current) {
			cs.status, cs.reason = "FAILED", "The submitted information didn't contain changes. Submit different information to create a change set."
		} else {
			cs.status, cs.exec = "CREATE_COMPLETE", "AVAILABLE"
		}
	}
	if cs.status == "CREATE_COMPLETE" {
		changes = `<Changes><member><Type>Resource</Type><ResourceChange><Action>Modify</Action>` +
			`<LogicalResourceId>Bucket</LogicalResourceId><ResourceType>AWS::S3::Bucket</ResourceType></ResourceChange></member></Changes>`
	}
	return tag("ChangeSetId", cs.id) + tag("ChangeSetName", cs.name) + tag("StackId", s.id) + tag("StackName", s.name) +
		tag("Description", cs.desc) + tag("Status", cs.status) + tag("ExecutionStatus", cs.exec) +
		tag("StatusReason", cs.reason) + tag("CreationTime", f.clock.Format(time.RFC3339)) + changes, nil
}

func (f *fakeCFN) deleteChangeSet(form url.Values) error {
	s, cs := f.findChangeSet(form)
	if cs == nil {
		return &fakeError{"ChangeSetNotFound", "ChangeSet [" + form.Get("ChangeSetName") + "] does not exist"}
	}
	delete(s.changeSets, cs.name)
	return nil
}

func (f *fakeCFN) executeChangeSet(form url.Values) error {
	s, cs := f.findChangeSet(form)
	if cs == nil {
		return &fakeError{"ChangeSetNotFound", "ChangeSet [" + form.Get("ChangeSetName") + "] does not exist"}
	}
	tok := form.Get("ClientRequestToken")
	if tok != "" && s.token == tok {
		return nil
	}
	if cs.exec != "AVAILABLE" {
		return &fakeError{"InvalidChangeSetStatus", "ChangeSet [" + cs.id + "] cannot be executed in its current status of [" + cs.status + "]"}
	}
	cs.exec = "EXECUTE_IN_PROGRESS"
	s.pending = cs.d
	if cs.kind == "CREATE" {
		f.begin(s, "create", "CREATE_IN_PROGRESS", tok)
	} else {
		f.begin(s, "update", "UPDATE_IN_PROGRESS", tok)
	}
	return nil
}

func (f *fakeCFN) describeStacks(form url.Values) (string, error) {
	name := form.Get("StackName")
	s := f.stack(name)
	if s == nil {
		return "", validation("Stack with id %s does not exist", name)
	}
	var b strings.Builder
	b.WriteString("<Stacks><member>")
	b.WriteString(tag("StackId", s.id) + tag("StackName", s.name) + tag("StackStatus", s.status) +
		tag("StackStatusReason", s.reason) + tag("CreationTime", "2026-03-01T10:00:00Z"))
	if outs := s.current.outputs(); len(outs) > 0 && s.status != "DELETE_COMPLETE" {
		b.WriteString("<Outputs>")
		keys := make([]string, 0, len(outs))
		for k := range outs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteString("<member>" + tag("OutputKey", k) + tag("OutputValue", outs[k]) + "</member>")
		}
		b.WriteString("</Outputs>")
	}
	b.WriteString("</member></Stacks>")
	return b.String(), nil
}

func (f *fakeCFN) describeStackEvents(form url.Values) (string, error) {
	name := form.Get("StackName")
	s := f.stack(name)
	if s == nil {
		return "", validation("Stack [%s] does not exist", name)
	}
	start := 0
	if t := form.Get("NextToken"); t != "" {
		start, _ = strconv.Atoi(t)
	}
	var b strings.Builder
	b.WriteString("<StackEvents>")
	n := 0
	i := len(s.events) - 1 - start
	for ; i >= 0 && n < f.pageSize; i, n = i-1, n+1 {
		e := s.events[i]
		b.WriteString("<member>" + tag("EventId", e.id) + tag("StackId", s.id) + tag("StackName", s.name) +
			tag("LogicalResourceId", e.logical) + tag("PhysicalResourceId", e.physical) + tag("ResourceType", e.typ) +
			tag("Timestamp", e.at.Format("2006-01-02T15:04:05.000Z")) + tag("ResourceStatus", e.status) +
			tag("ResourceStatusReason", e.reason) + tag("ClientRequestToken", e.token) + "</member>")
	}
	b.WriteString("</StackEvents>")
	if i >= 0 {
		b.WriteString(tag("NextToken", strconv.Itoa(start+n)))
	}
	return b.String(), nil
}

// resourceFailure is a resource that fails in an operation finish ends.
type resourceFailure struct{ logical, status, reason string }

// finish ends the running operation of a stack with status (reason is the stack's
// status reason), after the resource events of fails, and returns the EventBridge
// event CloudFormation sends.
func (f *fakeCFN) finish(name, status, reason string, fails ...resourceFailure) json.RawMessage {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stack(name)
	if s == nil {
		f.t.Fatalf("finish: no stack %s", name)
	}
	if !strings.HasSuffix(s.status, "_IN_PROGRESS") {
		f.t.Fatalf("finish: stack %s is %s, no operation runs", name, s.status)
	}
	for _, fl := range fails {
		f.addEvent(s, fl.logical, "", "AWS::S3::Bucket", fl.status, fl.reason)
	}
	s.status, s.reason = status, reason
	switch {
	case status == "CREATE_COMPLETE" || status == "UPDATE_COMPLETE":
		s.current = s.pending
		for _, cs := range s.changeSets {
			if cs.exec == "EXECUTE_IN_PROGRESS" {
				cs.exec = "EXECUTE_COMPLETE"
			}
		}
	case status == "DELETE_COMPLETE":
		delete(f.stacks, s.name)
	}
	f.addEvent(s, s.name, s.id, "AWS::CloudFormation::Stack", status, reason)
	return f.event(s, status, reason)
}

// event is a CloudFormation Stack Status Change event, as EventBridge delivers it.
func (f *fakeCFN) event(s *fakeStack, status, reason string) json.RawMessage {
	ev := map[string]any{
		"version": "0", "id": fmt.Sprintf("6a7e8feb-b491-4cf7-a9f1-%012d", f.seq), "detail-type": "CloudFormation Stack Status Change",
		"source": "aws.cloudformation", "account": f.account, "time": f.clock.Format(time.RFC3339), "region": f.region,
		"resources": []string{s.id},
		"detail": map[string]any{
			"stack-id":             s.id,
			"status-details":       map[string]string{"status": status, "status-reason": reason},
			"client-request-token": s.token,
		},
	}
	raw, _ := json.Marshal(ev)
	return raw
}

// put sets up a stack as if it had been deployed (status, template), outside any test's
// operation.
func (f *fakeCFN) put(name, status string, d deployment, tok string) *fakeStack {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.newStack(name)
	s.current, s.pending = d, d
	f.begin(s, "create", "CREATE_IN_PROGRESS", tok)
	s.status = status
	f.addEvent(s, s.name, s.id, "AWS::CloudFormation::Stack", status, "")
	return s
}

// calls returns the Action of every request, in order.
func (f *fakeCFN) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.requests {
		out = append(out, r.Get("Action"))
	}
	return out
}

// last returns the last request of an action.
func (f *fakeCFN) last(action string) url.Values {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.requests) - 1; i >= 0; i-- {
		if f.requests[i].Get("Action") == action {
			return f.requests[i]
		}
	}
	f.t.Fatalf("no %s request", action)
	return nil
}

func (f *fakeCFN) status(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.stack(name); s != nil {
		return s.status
	}
	return ""
}
