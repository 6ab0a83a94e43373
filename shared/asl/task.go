package asl

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TaskRequest is what a task handler receives for one invocation of a Task state.
type TaskRequest struct {
	// Resource is the Task's Resource ARN as written in the definition.
	Resource string
	// Parameters is the state's effective parameters (after InputPath and Parameters).
	Parameters any
	// Token is the task token when Resource ends in .waitForTaskToken (the same value
	// as $$.Task.Token); empty otherwise.
	Token string
	// ExecutionARN and StateName say which execution and state invoke the task.
	ExecutionARN string
	StateName    string
	// InvocationID is stable across re-invocations of the same attempt after a crash,
	// so handlers can deduplicate.
	InvocationID string
	// Time is when the task was scheduled, by the engine's clock.
	Time time.Time
}

// TaskHandler runs the Task states whose Resource it is registered for. Returning an
// *Error fails the task with that error name; any other error fails it with
// States.TaskFailed and the error message as cause. For a .waitForTaskToken resource the
// returned value only completes the submission: the state then waits for
// SendTaskSuccess/SendTaskFailure with the token. A handler must honour ctx: it is
// cancelled on task timeout, execution stop and engine Close.
type TaskHandler interface {
	Invoke(ctx context.Context, req *TaskRequest) (any, error)
}

// TaskHandlerFunc adapts a function to TaskHandler.
type TaskHandlerFunc func(ctx context.Context, req *TaskRequest) (any, error)

func (f TaskHandlerFunc) Invoke(ctx context.Context, req *TaskRequest) (any, error) {
	return f(ctx, req)
}

// LambdaFunc is a local stand-in for a Lambda function: it gets the invocation payload
// and returns the function's result.
type LambdaFunc func(ctx context.Context, payload any) (any, error)

// Registry maps task resources to handlers. It is safe for concurrent use; registering
// while executions run is allowed.
//
// Resolution order for a resource: an exact registration; then patterns ('*' matches any
// run of characters), longest pattern first; then, for a resource with a
// .waitForTaskToken suffix, the same lookups without the suffix; then the built-ins:
// arn:aws:states:::lambda:invoke (FunctionName → a registered LambdaFunc, result
// wrapped like Step Functions' Lambda integration) and arn:aws:lambda:…:function:NAME
// (the LambdaFunc named NAME, result unwrapped).
type Registry struct {
	mu       sync.RWMutex
	exact    map[string]TaskHandler
	patterns []patternHandler
	lambdas  map[string]LambdaFunc
}

type patternHandler struct {
	pattern string
	h       TaskHandler
}

// NewRegistry returns a registry holding only the built-in Lambda integrations.
func NewRegistry() *Registry {
	return &Registry{exact: map[string]TaskHandler{}, lambdas: map[string]LambdaFunc{}}
}

// Handle registers h for a resource ARN or a pattern containing '*'.
func (r *Registry) Handle(resource string, h TaskHandler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if strings.Contains(resource, "*") {
		r.patterns = append(r.patterns, patternHandler{resource, h})
		for i := len(r.patterns) - 1; i > 0 && len(r.patterns[i].pattern) > len(r.patterns[i-1].pattern); i-- {
			r.patterns[i], r.patterns[i-1] = r.patterns[i-1], r.patterns[i]
		}
		return
	}
	r.exact[resource] = h
}

// HandleFunc registers a function for a resource ARN or pattern.
func (r *Registry) HandleFunc(resource string, f func(ctx context.Context, req *TaskRequest) (any, error)) {
	r.Handle(resource, TaskHandlerFunc(f))
}

// HandleLambda registers a local Lambda function under its name (a full or partial ARN
// works too; the function name is what counts).
func (r *Registry) HandleLambda(name string, fn LambdaFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lambdas[lambdaName(name)] = fn
}

const (
	lambdaInvokeResource = "arn:aws:states:::lambda:invoke"
	waitForTokenSuffix   = ".waitForTaskToken"
)

// lookup finds the handler of a resource, or nil.
func (r *Registry) lookup(resource string) TaskHandler {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, res := range []string{resource, strings.TrimSuffix(resource, waitForTokenSuffix)} {
		if h, ok := r.exact[res]; ok {
			return h
		}
		for _, p := range r.patterns {
			if globMatch(p.pattern, res) {
				return p.h
			}
		}
		if res == lambdaInvokeResource {
			return TaskHandlerFunc(r.invokeLambdaIntegration)
		}
		if isLambdaFunctionARN(res) {
			return TaskHandlerFunc(r.invokeLambdaARN)
		}
	}
	return nil
}

func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i := 1; i < len(parts); i++ {
		if i == len(parts)-1 {
			return strings.HasSuffix(s, parts[i])
		}
		j := strings.Index(s, parts[i])
		if j < 0 {
			return false
		}
		s = s[j+len(parts[i]):]
	}
	return s == ""
}

func isLambdaFunctionARN(res string) bool {
	return strings.HasPrefix(res, "arn:aws:lambda:") && strings.Contains(res, ":function:")
}

// lambdaName extracts the function name from a name, name:qualifier, partial ARN
// (ACCOUNT:function:NAME) or full ARN.
func lambdaName(s string) string {
	if i := strings.Index(s, "function:"); i >= 0 {
		s = s[i+len("function:"):]
	}
	if i := strings.Index(s, ":"); i >= 0 {
		s = s[:i]
	}
	return s
}

func (r *Registry) lambda(name string) LambdaFunc {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.lambdas[lambdaName(name)]
}

func lambdaNotFound(name string) *Error {
	return NewError("Lambda.ResourceNotFoundException", "Function not found: %s (no LambdaFunc is registered under that name)", name)
}

// invokeLambdaIntegration implements arn:aws:states:::lambda:invoke.
func (r *Registry) invokeLambdaIntegration(ctx context.Context, req *TaskRequest) (any, error) {
	params, _ := req.Parameters.(map[string]any)
	name, _ := params["FunctionName"].(string)
	if name == "" {
		return nil, NewError(ErrNameTaskFailed, "lambda:invoke needs a FunctionName string parameter")
	}
	fn := r.lambda(name)
	if fn == nil {
		return nil, lambdaNotFound(name)
	}
	out, err := fn(ctx, params["Payload"])
	if err != nil {
		return nil, err
	}
	if inv, _ := params["InvocationType"].(string); inv == "Event" {
		return lambdaResponse(req, nil, 202), nil
	}
	return lambdaResponse(req, out, 200), nil
}

// lambdaResponse wraps a payload the way Step Functions' Lambda integration returns it.
func lambdaResponse(req *TaskRequest, payload any, status int) map[string]any {
	id := req.InvocationID
	date := req.Time.UTC().Format(time.RFC1123)
	headers := map[string]any{
		"Connection":             "keep-alive",
		"Content-Type":           "application/json",
		"Date":                   date,
		"X-Amz-Executed-Version": "$LATEST",
		"x-amzn-RequestId":       id,
	}
	all := map[string]any{}
	for k, v := range headers {
		all[k] = []any{v}
	}
	st := jsonInt(int64(status))
	return map[string]any{
		"ExecutedVersion": "$LATEST",
		"Payload":         payload,
		"SdkHttpMetadata": map[string]any{
			"AllHttpHeaders": all,
			"HttpHeaders":    headers,
			"HttpStatusCode": st,
		},
		"SdkResponseMetadata": map[string]any{"RequestId": id},
		"StatusCode":          st,
	}
}

// invokeLambdaARN implements a plain Lambda function ARN resource.
func (r *Registry) invokeLambdaARN(ctx context.Context, req *TaskRequest) (any, error) {
	fn := r.lambda(req.Resource)
	if fn == nil {
		return nil, lambdaNotFound(req.Resource)
	}
	return fn(ctx, req.Parameters)
}

// resourceNames splits a resource ARN into the resourceType and resource that Task*
// history events report (arn:aws:states:::lambda:invoke → "lambda", "invoke").
func resourceNames(res string) (resourceType, resource string) {
	if rest, ok := strings.CutPrefix(res, "arn:aws:states:::"); ok {
		if i := strings.LastIndex(rest, ":"); i >= 0 {
			return rest[:i], rest[i+1:]
		}
		return rest, ""
	}
	parts := strings.SplitN(res, ":", 6)
	if len(parts) == 6 {
		return parts[2], parts[5]
	}
	return res, ""
}

func jsonInt(n int64) any { return jsonNumber(strconv.FormatInt(n, 10)) }
