package sfnapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/relais-ci/relais/shared/asl"
)

var operations = map[string]func(h *Handler, r *http.Request, body []byte) (any, error){
	"CreateStateMachine":             (*Handler).createStateMachine,
	"UpdateStateMachine":             (*Handler).updateStateMachine,
	"DescribeStateMachine":           (*Handler).describeStateMachine,
	"DeleteStateMachine":             (*Handler).deleteStateMachine,
	"ListStateMachines":              (*Handler).listStateMachines,
	"StartExecution":                 (*Handler).startExecution,
	"DescribeExecution":              (*Handler).describeExecution,
	"StopExecution":                  (*Handler).stopExecution,
	"ListExecutions":                 (*Handler).listExecutions,
	"GetExecutionHistory":            (*Handler).getExecutionHistory,
	"SendTaskSuccess":                (*Handler).sendTaskSuccess,
	"SendTaskFailure":                (*Handler).sendTaskFailure,
	"SendTaskHeartbeat":              (*Handler).sendTaskHeartbeat,
	"RedriveExecution":               (*Handler).redriveExecution,
	"ValidateStateMachineDefinition": (*Handler).validateStateMachineDefinition,
}

// epoch is a timestamp on the wire: seconds since the Unix epoch, as a JSON number.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)), nil
}

// ts returns t on the wire, or nil (omitted) for the zero time.
func ts(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}

const machineType = "STANDARD"

// --- state machines ---

func (h *Handler) createStateMachine(r *http.Request, body []byte) (any, error) {
	var in struct {
		Name       string `json:"name"`
		Definition string `json:"definition"`
		RoleArn    string `json:"roleArn"`
		Type       string `json:"type"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	for _, f := range [][2]string{{"name", in.Name}, {"definition", in.Definition}, {"roleArn", in.RoleArn}} {
		if err := required(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	if in.Type != "" && in.Type != machineType {
		return nil, errf("StateMachineTypeNotSupported", "State machine type %s is not supported: only %s machines run here", in.Type, machineType)
	}
	sm, err := h.eng.CreateStateMachine(r.Context(), in.Name, []byte(in.Definition), in.RoleArn)
	if err != nil {
		return nil, engineError(err, "StateMachineDoesNotExist")
	}
	return struct {
		StateMachineArn string `json:"stateMachineArn"`
		CreationDate    *epoch `json:"creationDate"`
	}{sm.ARN, ts(sm.CreationDate)}, nil
}

func (h *Handler) updateStateMachine(r *http.Request, body []byte) (any, error) {
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
		Definition      string `json:"definition"`
		RoleArn         string `json:"roleArn"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkMachineARN("stateMachineArn", in.StateMachineArn); err != nil {
		return nil, err
	}
	if in.Definition == "" && in.RoleArn == "" {
		return nil, errf("MissingRequiredParameter", "Either the definition or the roleArn must be specified")
	}
	def := []byte(in.Definition)
	if in.Definition == "" {
		cur, err := h.eng.DescribeStateMachine(r.Context(), in.StateMachineArn)
		if err != nil {
			return nil, engineError(err, "StateMachineDoesNotExist")
		}
		def = []byte(cur.Definition)
	}
	sm, err := h.eng.UpdateStateMachine(r.Context(), in.StateMachineArn, def, in.RoleArn)
	if err != nil {
		return nil, engineError(err, "StateMachineDoesNotExist")
	}
	return struct {
		UpdateDate *epoch `json:"updateDate"`
	}{ts(sm.UpdateDate)}, nil
}

func (h *Handler) describeStateMachine(r *http.Request, body []byte) (any, error) {
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkMachineARN("stateMachineArn", in.StateMachineArn); err != nil {
		return nil, err
	}
	sm, err := h.eng.DescribeStateMachine(r.Context(), in.StateMachineArn)
	if err != nil {
		return nil, engineError(err, "StateMachineDoesNotExist")
	}
	return struct {
		StateMachineArn string `json:"stateMachineArn"`
		Name            string `json:"name"`
		Status          string `json:"status"`
		Definition      string `json:"definition"`
		RoleArn         string `json:"roleArn"`
		Type            string `json:"type"`
		CreationDate    *epoch `json:"creationDate"`
	}{sm.ARN, sm.Name, sm.Status, sm.Definition, sm.RoleArn, sm.Type, ts(sm.CreationDate)}, nil
}

func (h *Handler) deleteStateMachine(r *http.Request, body []byte) (any, error) {
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkMachineARN("stateMachineArn", in.StateMachineArn); err != nil {
		return nil, err
	}
	if err := h.eng.DeleteStateMachine(r.Context(), in.StateMachineArn); err != nil {
		return nil, engineError(err, "StateMachineDoesNotExist")
	}
	return struct{}{}, nil
}

type machineListItem struct {
	StateMachineArn string `json:"stateMachineArn"`
	Name            string `json:"name"`
	Type            string `json:"type"`
	CreationDate    *epoch `json:"creationDate"`
}

func (h *Handler) listStateMachines(r *http.Request, body []byte) (any, error) {
	var in struct {
		MaxResults int    `json:"maxResults"`
		NextToken  string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	all, err := h.eng.ListStateMachines(r.Context())
	if err != nil {
		return nil, err
	}
	start, end, next, err := page(len(all), in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	items := make([]machineListItem, 0, end-start)
	for _, sm := range all[start:end] {
		items = append(items, machineListItem{sm.ARN, sm.Name, sm.Type, ts(sm.CreationDate)})
	}
	return struct {
		StateMachines []machineListItem `json:"stateMachines"`
		NextToken     string            `json:"nextToken,omitempty"`
	}{items, next}, nil
}

// page slices n items by maxResults (default and limit 1000) and an offset token.
func page(n, maxResults int, token string) (start, end int, next string, err error) {
	if maxResults < 0 || maxResults > 1000 {
		return 0, 0, "", errf("ValidationException", "maxResults must be between 0 and 1000")
	}
	if maxResults == 0 {
		maxResults = 1000
	}
	if token != "" {
		start, err = strconv.Atoi(token)
		if err != nil || start < 0 || start > n {
			return 0, 0, "", errf("InvalidToken", "Invalid Token: 'nextToken %q is not one this API returned'", token)
		}
	}
	end = min(start+maxResults, n)
	if end < n {
		next = strconv.Itoa(end)
	}
	return start, end, next, nil
}

// --- executions ---

func (h *Handler) startExecution(r *http.Request, body []byte) (any, error) {
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
		Name            string `json:"name"`
		Input           string `json:"input"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkMachineARN("stateMachineArn", in.StateMachineArn); err != nil {
		return nil, err
	}
	x, err := h.eng.StartExecution(r.Context(), asl.StartInput{StateMachine: in.StateMachineArn, Name: in.Name, Input: in.Input})
	if errors.Is(err, asl.ErrInvalidInput) {
		return nil, errf("InvalidExecutionInput", "Invalid Execution Input: %s", trimPrefix(err))
	}
	if err != nil {
		return nil, engineError(err, "StateMachineDoesNotExist")
	}
	// The engine answers a start of an existing execution with the same input with that
	// execution; Step Functions does so only while it runs: "When the original execution
	// is closed, the ExecutionAlreadyExists message is returned regardless of input."
	if x.Status != asl.StatusRunning {
		return nil, errf("ExecutionAlreadyExists", "Execution Already Exists: '%s'", x.ARN)
	}
	return struct {
		ExecutionArn string `json:"executionArn"`
		StartDate    *epoch `json:"startDate"`
	}{x.ARN, ts(x.StartDate)}, nil
}

type dataDetails struct {
	Included bool `json:"included"`
}

func (h *Handler) describeExecution(r *http.Request, body []byte) (any, error) {
	var in struct {
		ExecutionArn string `json:"executionArn"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkExecutionARN(in.ExecutionArn); err != nil {
		return nil, err
	}
	x, err := h.eng.DescribeExecution(r.Context(), in.ExecutionArn)
	if err != nil {
		return nil, engineError(err, "ExecutionDoesNotExist")
	}
	out := struct {
		ExecutionArn        string       `json:"executionArn"`
		StateMachineArn     string       `json:"stateMachineArn"`
		Name                string       `json:"name"`
		Status              string       `json:"status"`
		StartDate           *epoch       `json:"startDate"`
		StopDate            *epoch       `json:"stopDate,omitempty"`
		Input               string       `json:"input"`
		InputDetails        dataDetails  `json:"inputDetails"`
		Output              *string      `json:"output,omitempty"`
		OutputDetails       *dataDetails `json:"outputDetails,omitempty"`
		Error               string       `json:"error,omitempty"`
		Cause               string       `json:"cause,omitempty"`
		RedriveCount        int          `json:"redriveCount"`
		RedriveDate         *epoch       `json:"redriveDate,omitempty"`
		RedriveStatus       string       `json:"redriveStatus,omitempty"`
		RedriveStatusReason string       `json:"redriveStatusReason,omitempty"`
	}{
		ExecutionArn: x.ARN, StateMachineArn: x.StateMachineARN, Name: x.Name, Status: x.Status,
		StartDate: ts(x.StartDate), StopDate: ts(x.StopDate), Input: x.Input, InputDetails: dataDetails{true},
		Error: x.Error, Cause: x.Cause, RedriveCount: x.RedriveCount, RedriveDate: ts(x.RedriveDate),
		RedriveStatus: x.RedriveStatus, RedriveStatusReason: x.RedriveStatusReason,
	}
	if x.Status == asl.StatusSucceeded {
		out.Output, out.OutputDetails = &x.Output, &dataDetails{true}
	}
	return out, nil
}

func (h *Handler) stopExecution(r *http.Request, body []byte) (any, error) {
	var in struct {
		ExecutionArn string `json:"executionArn"`
		Error        string `json:"error"`
		Cause        string `json:"cause"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkExecutionARN(in.ExecutionArn); err != nil {
		return nil, err
	}
	x, err := h.eng.StopExecution(r.Context(), in.ExecutionArn, in.Error, in.Cause)
	if err != nil {
		return nil, engineError(err, "ExecutionDoesNotExist")
	}
	return struct {
		StopDate *epoch `json:"stopDate"`
	}{ts(x.StopDate)}, nil
}

type executionListItem struct {
	ExecutionArn    string `json:"executionArn"`
	StateMachineArn string `json:"stateMachineArn"`
	Name            string `json:"name"`
	Status          string `json:"status"`
	StartDate       *epoch `json:"startDate"`
	StopDate        *epoch `json:"stopDate,omitempty"`
	RedriveCount    int    `json:"redriveCount"`
	RedriveDate     *epoch `json:"redriveDate,omitempty"`
}

var executionStatuses = map[string]bool{
	asl.StatusRunning: true, asl.StatusSucceeded: true, asl.StatusFailed: true, asl.StatusTimedOut: true,
	asl.StatusAborted: true, asl.StatusPendingRedrive: true,
}

func (h *Handler) listExecutions(r *http.Request, body []byte) (any, error) {
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
		StatusFilter    string `json:"statusFilter"`
		MaxResults      int    `json:"maxResults"`
		NextToken       string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkMachineARN("stateMachineArn", in.StateMachineArn); err != nil {
		return nil, err
	}
	if in.StatusFilter != "" && !executionStatuses[in.StatusFilter] {
		return nil, errf("ValidationException", "1 validation error detected: Value '%s' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set", in.StatusFilter)
	}
	if in.MaxResults < 0 || in.MaxResults > 1000 {
		return nil, errf("ValidationException", "maxResults must be between 0 and 1000")
	}
	if _, err := h.eng.DescribeStateMachine(r.Context(), in.StateMachineArn); err != nil {
		return nil, engineError(err, "StateMachineDoesNotExist")
	}
	xs, next, err := h.eng.ListExecutions(r.Context(), asl.ListExecutionsInput{StateMachine: in.StateMachineArn,
		Status: in.StatusFilter, MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		if strings.Contains(err.Error(), "NextToken") {
			return nil, errf("InvalidToken", "Invalid Token: '%s'", trimPrefix(err))
		}
		return nil, err
	}
	items := make([]executionListItem, 0, len(xs))
	for _, x := range xs {
		items = append(items, executionListItem{x.ARN, x.StateMachineARN, x.Name, x.Status, ts(x.StartDate), ts(x.StopDate),
			x.RedriveCount, ts(x.RedriveDate)})
	}
	return struct {
		Executions []executionListItem `json:"executions"`
		NextToken  string              `json:"nextToken,omitempty"`
	}{items, next}, nil
}

func (h *Handler) getExecutionHistory(r *http.Request, body []byte) (any, error) {
	var in struct {
		ExecutionArn         string `json:"executionArn"`
		MaxResults           int    `json:"maxResults"`
		NextToken            string `json:"nextToken"`
		ReverseOrder         bool   `json:"reverseOrder"`
		IncludeExecutionData *bool  `json:"includeExecutionData"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkExecutionARN(in.ExecutionArn); err != nil {
		return nil, err
	}
	if in.MaxResults < 0 || in.MaxResults > 1000 {
		return nil, errf("ValidationException", "maxResults must be between 0 and 1000")
	}
	if _, err := h.eng.DescribeExecution(r.Context(), in.ExecutionArn); err != nil {
		return nil, engineError(err, "ExecutionDoesNotExist")
	}
	evs, next, err := h.eng.History(r.Context(), in.ExecutionArn, asl.HistoryInput{MaxResults: in.MaxResults,
		NextToken: in.NextToken, ReverseOrder: in.ReverseOrder})
	if err != nil {
		if strings.Contains(err.Error(), "NextToken") {
			return nil, errf("InvalidToken", "Invalid Token: '%s'", trimPrefix(err))
		}
		return nil, err
	}
	withData := in.IncludeExecutionData == nil || *in.IncludeExecutionData
	out := make([]map[string]any, 0, len(evs))
	for _, ev := range evs {
		m, err := wireEvent(ev, withData)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return struct {
		Events    []map[string]any `json:"events"`
		NextToken string           `json:"nextToken,omitempty"`
	}{out, next}, nil
}

// wireEvent renders a history event as GetExecutionHistory does: its timestamp in epoch
// seconds and, without execution data, no input or output payloads.
func wireEvent(ev asl.Event, withData bool) (map[string]any, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	m["timestamp"] = epoch(ev.Timestamp)
	if !withData {
		for k, v := range m {
			if d, ok := v.(map[string]any); ok && strings.HasSuffix(k, "EventDetails") {
				for _, f := range []string{"input", "output", "parameters"} {
					delete(d, f)
				}
			}
		}
	}
	return m, nil
}

func (h *Handler) redriveExecution(r *http.Request, body []byte) (any, error) {
	var in struct {
		ExecutionArn string `json:"executionArn"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkExecutionARN(in.ExecutionArn); err != nil {
		return nil, err
	}
	x, err := h.eng.RedriveExecution(r.Context(), in.ExecutionArn)
	if err != nil {
		return nil, engineError(err, "ExecutionDoesNotExist")
	}
	return struct {
		RedriveDate *epoch `json:"redriveDate"`
	}{ts(x.RedriveDate)}, nil
}

// --- callbacks ---

func (h *Handler) sendTaskSuccess(r *http.Request, body []byte) (any, error) {
	var in struct {
		TaskToken string `json:"taskToken"`
		Output    string `json:"output"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("taskToken", in.TaskToken); err != nil {
		return nil, err
	}
	if err := required("output", in.Output); err != nil {
		return nil, err
	}
	err := h.eng.SendTaskSuccess(r.Context(), in.TaskToken, in.Output)
	if errors.Is(err, asl.ErrInvalidInput) {
		return nil, errf("InvalidOutput", "Invalid Output: %s", trimPrefix(err))
	}
	if err != nil {
		return nil, engineError(err, "TaskDoesNotExist")
	}
	return struct{}{}, nil
}

func (h *Handler) sendTaskFailure(r *http.Request, body []byte) (any, error) {
	var in struct {
		TaskToken string `json:"taskToken"`
		Error     string `json:"error"`
		Cause     string `json:"cause"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("taskToken", in.TaskToken); err != nil {
		return nil, err
	}
	if err := h.eng.SendTaskFailure(r.Context(), in.TaskToken, in.Error, in.Cause); err != nil {
		return nil, engineError(err, "TaskDoesNotExist")
	}
	return struct{}{}, nil
}

func (h *Handler) sendTaskHeartbeat(r *http.Request, body []byte) (any, error) {
	var in struct {
		TaskToken string `json:"taskToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("taskToken", in.TaskToken); err != nil {
		return nil, err
	}
	if err := h.eng.SendTaskHeartbeat(r.Context(), in.TaskToken); err != nil {
		return nil, engineError(err, "TaskDoesNotExist")
	}
	return struct{}{}, nil
}

// --- validation ---

type diagnostic struct {
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Message  string `json:"message"`
	Location string `json:"location,omitempty"`
}

func (h *Handler) validateStateMachineDefinition(r *http.Request, body []byte) (any, error) {
	var in struct {
		Definition string `json:"definition"`
		Type       string `json:"type"`
		MaxResults int    `json:"maxResults"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("definition", in.Definition); err != nil {
		return nil, err
	}
	diags := []diagnostic{}
	_, err := asl.Parse([]byte(in.Definition))
	var verr *asl.ValidationError
	switch {
	case errors.As(err, &verr):
		for _, p := range verr.Problems {
			diags = append(diags, diagnostic{Severity: "ERROR", Code: p.Code, Message: p.Message, Location: p.Location})
		}
	case err != nil:
		diags = append(diags, diagnostic{Severity: "ERROR", Code: asl.CodeSchema, Message: trimPrefix(err)})
	}
	result := "OK"
	if len(diags) > 0 {
		result = "FAIL"
	}
	truncated := false
	if in.MaxResults > 0 && len(diags) > in.MaxResults {
		diags, truncated = diags[:in.MaxResults], true
	}
	return struct {
		Result      string       `json:"result"`
		Diagnostics []diagnostic `json:"diagnostics"`
		Truncated   bool         `json:"truncated"`
	}{result, diags, truncated}, nil
}
