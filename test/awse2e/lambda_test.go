package awse2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// This file is the Lambda service of the run: the Invoke API (what Step Functions,
// API Gateway, EventBridge and CloudFormation call) in front of the functions' real
// bootstraps, each run as Lambda runs a provided.al2023 function — a process per
// execution environment, started on demand when every environment is busy, taking its
// invocations from its own Runtime API (GET next, POST response or error).

// functionNames are the functions the stack deploys.
var functionNames = []string{"webhook", "api", "gate", "action", "approval", "events"}

var (
	builtOnce sync.Once
	built     map[string]string
	buildErr  error
)

// functions returns the bootstraps of the stack's functions, built once per test
// process into the user's cache (go build then relinks only what changed).
func functions(t *testing.T) map[string]string {
	t.Helper()
	builtOnce.Do(func() {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		mode := "norace"
		if raceEnabled {
			mode = "race"
		}
		dir = filepath.Join(dir, "relais", "awse2e", mode)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			// No cache to keep them in: build them for this process only.
			if dir, err = os.MkdirTemp("", "relais-awse2e-"); err != nil {
				buildErr = err
				return
			}
		}
		began := time.Now()
		built, buildErr = buildFunctions(dir, functionNames...)
		if buildErr == nil {
			t.Logf("built %d functions in %v (race detector: %v)", len(functionNames), time.Since(began).Round(time.Millisecond), raceEnabled)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// buildFunctions builds the bootstraps of functions/<name> into dir, as make lambdas
// does (-tags lambda.norpc) but for this machine; with the race detector when the test
// runs with it, so that the functions' concurrency is checked too.
func buildFunctions(dir string, names ...string) (map[string]string, error) {
	args := []string{"build", "-tags", "lambda.norpc", "-o", dir + string(os.PathSeparator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	for _, n := range names {
		args = append(args, "./functions/"+n)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the functions: %v\n%s", err, out)
	}
	bins := map[string]string{}
	for _, n := range names {
		bins[n] = filepath.Join(dir, n)
	}
	return bins, nil
}

// invocation is one call of a function.
type invocation struct {
	Function string
	ID       string
	Payload  []byte
	Async    bool
	Start    time.Time
	End      time.Time
	// Result is the response, or the error document when ErrorType is set.
	Result    []byte
	ErrorType string
	// Cold says that the invocation started an execution environment.
	Cold bool

	done chan struct{}
}

// Duration is how long the function ran for it.
func (inv *invocation) Duration() time.Duration { return inv.End.Sub(inv.Start) }

// function is one Lambda function: its bootstrap, configuration and environments.
type function struct {
	svc       *lambdaService
	name      string
	arn       string
	bootstrap string
	env       []string
	timeout   time.Duration
	memoryMB  int

	queue chan *invocation

	mu        sync.Mutex
	instances map[*instance]bool
	busy      int // environments running an invocation
	pending   int // invocations queued, not yet taken
	started   int // environments ever started
	logs      bytes.Buffer
	// inits are the init durations of the environments: from the process's start to
	// its first request for an invocation (lambdaenv.Open and the runtime's start).
	inits []time.Duration
}

// maxInstances bounds the environments of one function: enough for the concurrency a
// pipeline has (a task waiting for another function's answer), few enough for a small
// machine.
const maxInstances = 4

// lambdaService serves the Invoke API over the functions. It is safe for concurrent use.
type lambdaService struct {
	t       *testing.T
	region  string
	account string
	srv     *httptest.Server
	mu      sync.Mutex
	base    []string // environment every function gets
	fns     map[string]*function
	log     []*invocation
	bad     []string // requests the service refused as malformed
	quit    chan struct{}
}

func newLambdaService(t *testing.T, calls *callLog, region, account string) *lambdaService {
	s := &lambdaService{t: t, region: region, account: account, fns: map[string]*function{}, quit: make(chan struct{})}
	s.srv = httptest.NewServer(calls.wrap(describeLambda, http.HandlerFunc(s.serveInvoke)))
	t.Cleanup(func() {
		s.mu.Lock()
		fns := s.fns
		s.mu.Unlock()
		for _, f := range fns {
			f.stopAll()
		}
		close(s.quit)
		s.srv.Close()
		if t.Failed() || os.Getenv("RELAIS_E2E_LOGS") != "" {
			for _, f := range fns {
				t.Logf("logs of function %s:\n%s", f.name, f.logText())
			}
		}
	})
	return s
}

// setBase sets the environment every function's environments get.
func (s *lambdaService) setBase(env []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.base = env
}

// add creates a function (CreateFunction, as the stack does).
func (s *lambdaService) add(name, bootstrap string, timeout time.Duration, memoryMB int, env []string) *function {
	f := &function{
		svc: s, name: name, bootstrap: bootstrap, timeout: timeout, memoryMB: memoryMB, env: env,
		arn:   fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", s.region, s.account, name),
		queue: make(chan *invocation, 64), instances: map[*instance]bool{},
	}
	s.mu.Lock()
	s.fns[name] = f
	s.mu.Unlock()
	return f
}

// functionName reads the function a FunctionName names: a name, a partial ARN
// (account:function:name) or an ARN, with or without a qualifier.
func functionName(s string) string {
	if i := strings.Index(s, "function:"); i >= 0 {
		s = s[i+len("function:"):]
	}
	name, _, _ := strings.Cut(s, ":")
	return name
}

// serveInvoke is POST /2015-03-31/functions/{FunctionName}/invocations.
func (s *lambdaService) serveInvoke(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/2015-03-31/functions/")
	name, ok2 := strings.CutSuffix(rest, "/invocations")
	if r.Method != http.MethodPost || !ok || !ok2 {
		s.refuse(w, r, http.StatusNotFound, "UnknownOperationException", "only Invoke is served here")
		return
	}
	if msg := checkSigned(r, s.region, "lambda"); msg != "" {
		s.refuse(w, r, http.StatusForbidden, "InvalidSignatureException", msg)
		return
	}
	s.mu.Lock()
	f := s.fns[functionName(name)]
	s.mu.Unlock()
	if f == nil {
		w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"Type":"User","Message":"Function not found: arn:aws:lambda:%s:%s:function:%s"}`, s.region, s.account, functionName(name))
		return
	}
	if q := r.URL.Query().Get("Qualifier"); q != "" && q != "$LATEST" {
		s.refuse(w, r, http.StatusNotFound, "ResourceNotFoundException", "only $LATEST is deployed")
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, 6<<20+1))
	if err != nil || len(payload) > 6<<20 {
		s.refuse(w, r, http.StatusRequestEntityTooLarge, "RequestTooLargeException", "payload over 6 MB")
		return
	}
	if len(payload) > 0 && !json.Valid(payload) {
		s.refuse(w, r, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json")
		return
	}
	switch typ := r.Header.Get("X-Amz-Invocation-Type"); typ {
	case "", "RequestResponse":
		inv := f.invoke(r.Context(), payload, false)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		w.Header().Set("X-Amzn-Requestid", inv.ID)
		if inv.ErrorType != "" {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
		}
		w.Write(inv.Result)
	case "Event":
		// Queued and run later, as Lambda's asynchronous invocation does; the result only
		// reaches the service's log.
		go f.invoke(context.Background(), payload, true)
		w.Header().Set("X-Amzn-Requestid", uuid.NewString())
		w.WriteHeader(http.StatusAccepted)
	default:
		s.refuse(w, r, http.StatusBadRequest, "InvalidParameterValueException", "invocation type "+typ)
	}
}

func (s *lambdaService) refuse(w http.ResponseWriter, r *http.Request, status int, typ, msg string) {
	s.mu.Lock()
	s.bad = append(s.bad, fmt.Sprintf("%s %s: %s: %s", r.Method, r.URL.Path, typ, msg))
	s.mu.Unlock()
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"Type":"User","Message":%q}`, msg)
}

// invocations returns the log of ended invocations of fn ("" for all), in the order
// they ended.
func (s *lambdaService) invocations(fn string) []*invocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*invocation
	for _, inv := range s.log {
		if fn == "" || inv.Function == fn {
			out = append(out, inv)
		}
	}
	return out
}

// invoke runs one invocation in a free environment (starting one when all are busy)
// and returns it ended: with its result, its error, or a timeout.
func (f *function) invoke(ctx context.Context, payload []byte, async bool) *invocation {
	inv := &invocation{Function: f.name, ID: uuid.NewString(), Payload: payload, Async: async, done: make(chan struct{})}
	f.mu.Lock()
	if len(f.instances)-f.busy-f.pending <= 0 && len(f.instances) < maxInstances {
		if err := f.startInstance(); err != nil {
			f.mu.Unlock()
			f.end(inv, nil, "ServiceException", fmt.Sprintf("start an environment: %v", err))
			return inv
		}
		inv.Cold = true
	}
	f.pending++
	f.mu.Unlock()
	f.queue <- inv
	timer := time.NewTimer(f.timeout + 10*time.Second) // the function's own timeout ends it first
	defer timer.Stop()
	select {
	case <-inv.done:
	case <-timer.C:
		f.end(inv, nil, "Sandbox.Timedout", fmt.Sprintf("Task timed out after %v", f.timeout))
	case <-ctx.Done():
		// The caller gave up (Step Functions stopped the execution); Lambda goes on
		// running the invocation, and so does this.
		<-inv.done
	}
	return inv
}

// end records the outcome of inv once.
func (f *function) end(inv *invocation, result []byte, errType, msg string) {
	f.svc.mu.Lock()
	select {
	case <-inv.done:
		f.svc.mu.Unlock()
		return
	default:
	}
	if inv.Start.IsZero() {
		inv.Start = time.Now()
	}
	inv.End = time.Now()
	inv.Result, inv.ErrorType = result, errType
	if errType != "" && result == nil {
		inv.Result, _ = json.Marshal(map[string]string{"errorType": errType, "errorMessage": msg})
	}
	f.svc.log = append(f.svc.log, inv)
	close(inv.done)
	f.svc.mu.Unlock()
}

func (f *function) stopAll() {
	f.mu.Lock()
	var all []*instance
	for in := range f.instances {
		all = append(all, in)
	}
	f.mu.Unlock()
	for _, in := range all {
		in.kill()
	}
}

// instance is one execution environment: the bootstrap process and its Runtime API.
type instance struct {
	f      *function
	cmd    *exec.Cmd
	api    *httptest.Server
	ready  chan struct{} // closed once the process started (cmd.Process is set)
	exited chan struct{}
	began  time.Time
	inited sync.Once

	mu      sync.Mutex
	current *invocation
}

// startInstance starts an environment; f.mu is held.
func (f *function) startInstance() error {
	in := &instance{f: f, ready: make(chan struct{}), exited: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", in.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", in.respond)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", in.fail)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", in.initError)
	in.api = httptest.NewServer(mux)
	f.started++
	n := f.started
	cmd := exec.Command(f.bootstrap)
	cmd.Dir = filepath.Dir(f.bootstrap)
	f.svc.mu.Lock()
	base := f.svc.base
	f.svc.mu.Unlock()
	cmd.Env = append(append(append([]string{}, base...), f.env...),
		"AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(in.api.URL, "http://"),
		// The function's role: its own credentials, so that the stand-ins know who calls.
		"AWS_ACCESS_KEY_ID="+f.name,
		"AWS_LAMBDA_FUNCTION_NAME="+f.name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(f.memoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/"+f.name,
		fmt.Sprintf("AWS_LAMBDA_LOG_STREAM_NAME=2026/11/25/[$LATEST]%032d", n),
		"AWS_LAMBDA_LOG_FORMAT=JSON",
		"_HANDLER=bootstrap",
		"LAMBDA_TASK_ROOT="+cmd.Dir,
	)
	w := &prefixWriter{f: f, prefix: fmt.Sprintf("[%s #%d] ", f.name, n)}
	cmd.Stdout, cmd.Stderr = w, w
	in.cmd = cmd
	in.began = time.Now()
	if err := cmd.Start(); err != nil {
		in.api.Close()
		return err
	}
	close(in.ready)
	f.instances[in] = true
	go in.wait()
	return nil
}

// wait reaps the process: an invocation it was running fails as Lambda reports a crash.
func (in *instance) wait() {
	err := in.cmd.Wait()
	close(in.exited)
	f := in.f
	f.mu.Lock()
	delete(f.instances, in)
	f.mu.Unlock()
	in.mu.Lock()
	cur := in.current
	in.current = nil
	in.mu.Unlock()
	if cur != nil {
		f.mu.Lock()
		f.busy--
		f.mu.Unlock()
		f.end(cur, nil, "Runtime.ExitError", fmt.Sprintf("RequestId: %s Error: Runtime exited: %v", cur.ID, err))
	}
	in.api.Close()
}

func (in *instance) kill() {
	if in.cmd.Process != nil {
		in.cmd.Process.Kill()
	}
	<-in.exited
}

func (in *instance) next(w http.ResponseWriter, r *http.Request) {
	f := in.f
	var inv *invocation
	<-in.ready
	in.inited.Do(func() {
		f.mu.Lock()
		f.inits = append(f.inits, time.Since(in.began))
		f.mu.Unlock()
	})
	freeze(in.cmd.Process)
	defer thaw(in.cmd.Process)
	select {
	case inv = <-f.queue:
	case <-in.exited:
		return
	case <-r.Context().Done():
		return
	case <-f.svc.quit:
		// The service is going away: the environment gets no answer, as when Lambda
		// freezes it.
		panic(http.ErrAbortHandler)
	}
	f.mu.Lock()
	f.pending--
	f.busy++
	f.mu.Unlock()
	f.svc.mu.Lock() // end reads Start under it
	inv.Start = time.Now()
	f.svc.mu.Unlock()
	in.mu.Lock()
	in.current = inv
	in.mu.Unlock()
	thaw(in.cmd.Process)
	deadline := inv.Start.Add(f.timeout)
	w.Header().Set("Lambda-Runtime-Aws-Request-Id", inv.ID)
	w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(deadline.UnixMilli(), 10))
	w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", f.arn)
	w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-"+strconv.FormatInt(inv.Start.Unix(), 16)+"-"+strings.ReplaceAll(inv.ID, "-", "")[:24]+";Sampled=0")
	w.Header().Set("Content-Type", "application/json")
	w.Write(inv.Payload)
}

// take ends the environment's current invocation if it is id.
func (in *instance) take(id string) *invocation {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.current == nil || in.current.ID != id {
		return nil
	}
	inv := in.current
	in.current = nil
	in.f.mu.Lock()
	in.f.busy--
	in.f.mu.Unlock()
	return inv
}

func (in *instance) respond(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	inv := in.take(r.PathValue("id"))
	if inv == nil || err != nil {
		http.Error(w, `{"errorType":"InvalidRequestID"}`, http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	in.f.end(inv, body, "", "")
}

func (in *instance) fail(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	inv := in.take(r.PathValue("id"))
	if inv == nil || err != nil {
		http.Error(w, `{"errorType":"InvalidRequestID"}`, http.StatusBadRequest)
		return
	}
	var doc struct {
		Type string `json:"errorType"`
	}
	_ = json.Unmarshal(body, &doc)
	typ := doc.Type
	if typ == "" {
		typ = r.Header.Get("Lambda-Runtime-Function-Error-Type")
	}
	if typ == "" {
		typ = "Unhandled"
	}
	w.WriteHeader(http.StatusAccepted)
	in.f.end(inv, body, typ, "")
}

func (in *instance) initError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	in.f.mu.Lock()
	fmt.Fprintf(&in.f.logs, "INIT ERROR: %s\n", body)
	in.f.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	go in.kill()
}

// prefixWriter collects a process's output (its CloudWatch log stream) under its name.
type prefixWriter struct {
	f      *function
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	for _, line := range strings.SplitAfter(string(b), "\n") {
		// minidyn sends no X-Amz-Crc32, which the DynamoDB client (whose
		// DisableValidateResponseChecksum no environment variable sets) warns about.
		if line != "" && !strings.Contains(line, "response did not match expected checksum") {
			p.f.logs.WriteString(p.prefix + line)
		}
	}
	return len(b), nil
}

// initDurations returns the init durations of the environments started so far.
func (f *function) initDurations() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.inits...)
}

// logText returns everything the function's environments wrote.
func (f *function) logText() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logs.String()
}

// checkSigned checks that a request is signed with SigV4 for service in region, as
// every SDK client signs its requests; it returns what is wrong, or "".
func checkSigned(r *http.Request, region, service string) string {
	auth := r.Header.Get("Authorization")
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || !ok {
		return "request is not signed with SigV4: Authorization " + strconv.Quote(auth)
	}
	cred, _, _ := strings.Cut(rest, ",")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[2] != region || parts[3] != service || parts[4] != "aws4_request" {
		return fmt.Sprintf("request is signed for %q, want region %s and service %s", cred, region, service)
	}
	return ""
}
